"""Both Yonyou connectors over real HTTP on 127.0.0.1, configured only from the ports file."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from erpbridge.sims.sandbox import run_sandbox
from erpbridge.spi import ConnectorRegistry, Secret, WriteMode, WriteOp, WriteOutcome


def _settings(name: str, entry: dict[str, object]) -> object:
    spec = ConnectorRegistry(use_entry_points=False).get(name)
    values = {**entry, "app_secret": Secret.literal(str(entry["app_secret"]))}
    return spec.settings.model_validate(values)


async def test_sandbox_entries_are_enough_to_check_read_and_write(tmp_path: Path) -> None:
    ports = tmp_path / "ports.json"
    registry = ConnectorRegistry(use_entry_points=False)
    outcomes: dict[str, tuple[bool, int, WriteOutcome]] = {}
    with run_sandbox(tmp_path / "data", only=["yonbip", "yonyou"], ports_file=ports):
        entries = json.loads(ports.read_text(encoding="utf-8"))
        async with httpx.AsyncClient(timeout=30) as http:
            bip = registry.get("yonbip").create(_settings("yonbip", entries["yonbip"]), http)  # type: ignore[arg-type]
            u8 = registry.get("yonyou").create(_settings("yonyou", entries["yonyou"]), http)  # type: ignore[arg-type]
            for name, connector, obj, fields in (
                (
                    "yonbip",
                    bip,
                    "merchant",
                    {"code": "LB0001", "name": "回环测试有限公司", "createOrgCode": "991",
                     "customerClassCode": "01"},
                ),
                (
                    "yonyou",
                    u8,
                    "customer",
                    {"code": "LB0001", "name": "回环测试有限公司", "abbrname": "回环",
                     "sort_code": "01"},
                ),
            ):  # fmt: skip
                check = await connector.check()
                count = 0
                async for page in connector.read_changes(obj, None, 25):
                    count += len(page.records)
                [result] = await connector.write(
                    obj, [WriteOp(WriteMode.CREATE, fields, idempotency_key="loopback-0001")]
                )
                outcomes[name] = (check.ok, count, result.outcome)
    assert outcomes == {
        "yonbip": (True, 40, WriteOutcome.CREATED),
        "yonyou": (True, 40, WriteOutcome.CREATED),
    }
