"""``erpbridge sandbox`` with the Salesforce simulator: ports file entry and a restart."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from simple_salesforce import Salesforce

from erpbridge.sims.sandbox import run_sandbox

from .conftest import RouteToSimulator


def _client(entry: dict[str, str]) -> Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = entry["ca_file"]
    session.mount("https://login.salesforce.com", RouteToSimulator(entry["base_url"]))
    return Salesforce(
        username=entry["username"],
        password=entry["password"],
        security_token=entry["security_token"],
        session=session,
    )


def test_ports_file_entry_holds_what_a_connection_needs(tmp_path: Path) -> None:
    ports = tmp_path / "sandbox.json"
    with run_sandbox(tmp_path / "data", only=["salesforce"], ports_file=ports):
        entry = json.loads(ports.read_text())["salesforce"]
        total = _client(entry).query("SELECT COUNT() FROM Order")["totalSize"]
    assert set(entry) == {
        "base_url",
        "api_version",
        "auth",
        "username",
        "password",
        "security_token",
        "client_id",
        "client_secret",
        "org_id",
        "ca_file",
        "private_key_file",
    }
    assert entry["base_url"].startswith("https://127.0.0.1:")
    assert total == 3000


def test_sandbox_restart_keeps_data_written_before(tmp_path: Path) -> None:
    ports = tmp_path / "sandbox.json"
    with run_sandbox(tmp_path / "data", only=["salesforce"], ports_file=ports):
        entry = json.loads(ports.read_text())["salesforce"]
        record_id = _client(entry).Account.create({"Name": "重启后仍在"})["id"]
    with run_sandbox(tmp_path / "data", only=["salesforce"], ports_file=ports):
        entry = json.loads(ports.read_text())["salesforce"]
        name = _client(entry).Account.get(record_id)["Name"]
    assert name == "重启后仍在"
