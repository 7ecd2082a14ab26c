"""Finds connectors: built-in ones by name, third-party ones by entry point.

Nothing registers at import time (STYLE.md): built-ins are a table of import paths,
loaded on first use; third-party connectors publish a :class:`ConnectorSpec` under the
entry-point group ``erpbridge.connectors``.
"""

from __future__ import annotations

import difflib
import enum
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from erpbridge.spi.errors import ConfigError
from erpbridge.spi.settings import ConnectionSettings

if TYPE_CHECKING:
    import httpx

    from erpbridge.spi.connector import Connector

__all__ = [
    "ENTRY_POINT_GROUP",
    "Capability",
    "ConnectorFactory",
    "ConnectorRegistry",
    "ConnectorSpec",
]

ENTRY_POINT_GROUP = "erpbridge.connectors"

ConnectorFactory = Callable[[ConnectionSettings, "httpx.AsyncClient | None"], "Connector"]

#: built-in connectors: short name -> "module:attribute" holding a ConnectorSpec.
_BUILTIN: dict[str, str] = {
    "sap": "erpbridge.connectors.sap:SPEC",
    "salesforce": "erpbridge.connectors.salesforce:SPEC",
    "kingdee": "erpbridge.connectors.kingdee:SPEC",
    "jiandaoyun": "erpbridge.connectors.jiandaoyun:SPEC",
    "oracle": "erpbridge.connectors.oracle:SPEC",
    "yonbip": "erpbridge.connectors.yonbip:SPEC",
    "sql": "erpbridge.connectors.sql:SPEC",
    "yonyou": "erpbridge.connectors.yonyou:SPEC",
    "amqp": "erpbridge.connectors.amqp:SPEC",
    "nats": "erpbridge.connectors.nats:SPEC",
    "rest": "erpbridge.connectors.rest:SPEC",
    "files": "erpbridge.connectors.files:SPEC",
}


class Capability(enum.StrEnum):
    """Something a connector can do that the project file may ask for by name.

    The config checks a flow against its connection's connector through these, so it
    never has to know connector types.
    """

    #: its objects are folders of files: ``trigger: {file_drop: 30s}`` polls them.
    FILE_DROP = "file_drop"


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """What the registry knows of a connector.

    Attributes:
        name: short name used as ``type:`` in the project file (``salesforce``).
        settings: the pydantic model of a connection's settings.
        create: builds a connector from validated settings and an optional HTTP client.
        summary: one line for ``erpbridge connectors``.
        kind: ``crm``, ``erp`` or ``generic`` (for people; the engine does not care).
        capabilities: what the project file may ask of it by name (:class:`Capability`).
            Default none.
    """

    name: str
    settings: type[ConnectionSettings]
    create: ConnectorFactory
    summary: str = ""
    kind: str = "generic"
    capabilities: frozenset[Capability] = field(default_factory=frozenset)


class ConnectorRegistry:
    """Looks connectors up by name; built-ins first, then entry points."""

    def __init__(
        self,
        builtin: dict[str, str] | None = None,
        *,
        use_entry_points: bool = True,
    ) -> None:
        self._paths = dict(_BUILTIN if builtin is None else builtin)
        self._use_entry_points = use_entry_points
        self._loaded: dict[str, ConnectorSpec] = {}
        self._entry_points_read = False

    def register(self, spec: ConnectorSpec) -> None:
        """Add a connector explicitly (tests, embedding applications)."""
        self._loaded[spec.name] = spec

    def names(self) -> list[str]:
        """Every connector name known, sorted."""
        self._read_entry_points()
        return sorted(set(self._paths) | set(self._loaded))

    def get(self, name: str) -> ConnectorSpec:
        """The spec for ``name``.

        Raises:
            ConfigError: unknown name (with a did-you-mean) or a connector that fails to load.
        """
        if name in self._loaded:
            return self._loaded[name]
        self._read_entry_points()
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._paths:
            hint = difflib.get_close_matches(name, self.names(), n=1)
            known = ", ".join(self.names()) or "none installed"
            suggestion = f"; did you mean {hint[0]!r}?" if hint else f" (known: {known})"
            raise ConfigError(f"unknown connector type {name!r}{suggestion}")
        module_name, _, attr = self._paths[name].partition(":")
        try:
            spec = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"connector {name!r} failed to load: {exc}") from exc
        self._loaded[name] = _checked(name, spec)
        return self._loaded[name]

    def _read_entry_points(self) -> None:
        if self._entry_points_read or not self._use_entry_points:
            return
        self._entry_points_read = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._loaded or ep.name in self._paths:
                continue  # built-ins win; a plugin cannot shadow them
            try:
                self._loaded[ep.name] = _checked(ep.name, ep.load())
            except Exception as exc:
                raise ConfigError(f"connector plugin {ep.name!r} failed to load: {exc}") from exc


def _checked(name: str, spec: object) -> ConnectorSpec:
    if not isinstance(spec, ConnectorSpec):
        raise ConfigError(f"connector {name!r} does not export a ConnectorSpec")
    return spec
