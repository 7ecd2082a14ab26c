"""A ``type: sql`` connection in a project file: loaded, or refused with line and field."""

from __future__ import annotations

import pytest

from erpbridge.config import ConfigErrors, load_project_text
from erpbridge.connectors.sql import SqlSettings
from erpbridge.spi.registry import ConnectorRegistry

PROJECT = """\
name: u8
connections:
  u8db:
    type: sql
    url: mysql+pymysql://erpbridge@u8-db:3306/UFDATA_001_2026
    password: ${env:U8_DB_PASSWORD}
    preset: u8
    timezone: Asia/Shanghai
    objects:
      CurrentStock: {change_capture: true, read_only: true}
flows: {}
"""


def test_sql_connection_loads_from_a_project_file() -> None:
    project = load_project_text(
        PROJECT, registry=ConnectorRegistry(), environ={"U8_DB_PASSWORD": "pw-9876"}
    )
    settings = project.connections["u8db"]
    assert isinstance(settings, SqlSettings)
    assert settings.effective_write_mode == "staging"
    assert settings.password is not None and settings.password.reveal() == "pw-9876"


def test_a_typo_in_an_object_setting_is_refused_with_its_line() -> None:
    text = PROJECT.replace("change_capture: true", "change_captur: true")
    with pytest.raises(ConfigErrors) as caught:
        load_project_text(text, registry=ConnectorRegistry(), environ={"U8_DB_PASSWORD": "pw"})
    [error] = caught.value.errors
    assert error.line == 10
    assert "change_captur" in error.describe()
