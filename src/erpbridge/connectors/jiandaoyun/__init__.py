"""Jiandaoyun (简道云) connector over the Open API v5 (see README.md): ``SPEC``."""

from __future__ import annotations

import httpx

from erpbridge.connectors.jiandaoyun.connector import JiandaoyunConnector
from erpbridge.connectors.jiandaoyun.settings import JiandaoyunSettings
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "JiandaoyunConnector", "JiandaoyunSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> JiandaoyunConnector:
    """Build a connector from validated settings and the caller's HTTP client (or None).

    Raises:
        ConfigError: the settings are not ``JiandaoyunSettings``.
    """
    if not isinstance(settings, JiandaoyunSettings):
        raise ConfigError(
            f"jiandaoyun connector needs JiandaoyunSettings, not {type(settings).__name__}"
        )
    return JiandaoyunConnector(settings, http)


SPEC = ConnectorSpec(
    name="jiandaoyun",
    settings=JiandaoyunSettings,
    create=create,
    summary="Jiandaoyun 简道云 Open API v5: forms and widgets, data list/batch writes, 数据推送",
    kind="crm",
)
