"""Every built-in connector takes the spi's field list on ``read_changes`` and ``get``."""

from __future__ import annotations

import importlib
import inspect

import pytest

from erpbridge.spi.registry import ConnectorRegistry

NAMES = sorted(ConnectorRegistry(use_entry_points=False).names())


def _connector_classes(name: str) -> list[type]:
    module = importlib.import_module(f"erpbridge.connectors.{name}.connector")
    return [
        cls
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and cls.__module__ == module.__name__
        and cls.__name__.endswith("Connector")
        and hasattr(cls, "read_changes")
    ]


@pytest.mark.parametrize("name", NAMES)
def test_read_changes_and_get_take_fields_defaulting_to_every_field(name: str) -> None:
    classes = _connector_classes(name)
    assert classes, f"no connector class in erpbridge.connectors.{name}.connector"
    for cls in classes:
        for method in (cls.read_changes, cls.get):
            parameter = inspect.signature(method).parameters.get("fields")
            assert parameter is not None, f"{cls.__name__}.{method.__name__} has no fields"
            assert parameter.default is None
