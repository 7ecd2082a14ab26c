"""``erpbridge sandbox`` serves the YonBIP and U8 simulators on loopback with usable entries."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from erpbridge.sims.sandbox import run_sandbox
from erpbridge.sims.yonbip import sign

from .conftest import timestamp_ms


def test_sandbox_serves_yonbip_and_its_entry_gets_a_token(tmp_path: Path) -> None:
    ports = tmp_path / "sandbox.json"
    with run_sandbox(tmp_path / "data", only=["yonbip"], ports_file=ports):
        entry = json.loads(ports.read_text(encoding="utf-8"))["yonbip"]
        ts = timestamp_ms()
        answer = httpx.get(
            entry["token_url"] + "/open-auth/selfAppAuth/getAccessToken",
            params={
                "appKey": entry["app_key"],
                "timestamp": ts,
                "signature": sign(entry["app_key"], ts, entry["app_secret"]),
            },
        )
        token = answer.json()["data"]["access_token"]
        listed = httpx.post(
            entry["gateway_url"] + "/yonbip/digitalModel/merchant/newlist",
            params={"access_token": token},
            json={"pageIndex": 1, "pageSize": 3},
        )
    assert listed.json()["code"] == "200" and len(listed.json()["data"]) == 3
    assert set(entry) == {"gateway_url", "token_url", "app_key", "app_secret"}


def test_sandbox_serves_u8_and_its_entry_gets_a_token(tmp_path: Path) -> None:
    ports = tmp_path / "sandbox.json"
    with run_sandbox(tmp_path / "data", only=["yonyou"], ports_file=ports):
        entry = json.loads(ports.read_text(encoding="utf-8"))["yonyou"]
        token = httpx.get(
            entry["base_url"] + "/system/token",
            params={k: entry[k] for k in ("from_account", "app_key", "app_secret")},
        ).json()["token"]["id"]
        params = {k: entry[k] for k in ("from_account", "to_account", "app_key")}
        listed = httpx.get(
            entry["base_url"] + "/api/customer/batch_get",
            params={**params, "token": token, "rows_per_page": 3},
        )
    assert listed.json()["errcode"] == "0" and len(listed.json()["customer"]) == 3
