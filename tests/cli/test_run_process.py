"""`erpbridge run` as a real process: serves health/metrics, moves data, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from erpbridge.cli.demo import dotenv_lines
from erpbridge.flows.templates import template_files
from erpbridge.sims.sandbox import run_sandbox

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _create_account(entry: dict[str, object]) -> str:
    verify = ssl.create_default_context(cafile=str(entry["ca_file"]))
    base = str(entry["base_url"])
    token = httpx.post(
        f"{base}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": entry["client_id"],
            "client_secret": entry["client_secret"],
            "username": entry["username"],
            "password": f"{entry['password']}{entry['security_token']}",
        },
        verify=verify,
        timeout=10,
    ).json()
    answer = httpx.post(
        f"{token['instance_url']}/services/data/v59.0/sobjects/Account",
        json={"Name": "实时客户 Realtime Ltd", "AccountNumber": "RT-0001"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        verify=verify,
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _wait_for(project: Path, record_id: str, deadline: float) -> tuple[str, str] | None:
    engine = sa.create_engine(f"sqlite:///{project / 'erpbridge.db'}")
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text(
                        "select trigger, outcome from jobs where flow = 'customers-to-sap' and source_id = :id and state = 'done'"
                    ),
                    {"id": record_id},
                ).first()
            if row is not None:
                return (str(row[0]), str(row[1]))
            time.sleep(0.3)
        return None
    finally:
        engine.dispose()


def test_run_serves_moves_data_and_stops_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, text in template_files("starter").items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    port = _free_port()
    # Salesforce outbound messages (real-time) go to the hub's webhook receiver.
    monkeypatch.setenv(
        "ERPBRIDGE_SALESFORCE_OUTBOUND_URL", f"http://127.0.0.1:{port}/hooks/salesforce"
    )
    monkeypatch.setenv("ERPBRIDGE_SALESFORCE_OUTBOUND_OBJECTS", "Account")
    with run_sandbox(tmp_path / "sandbox", only=["salesforce", "sap"]) as running:
        lines = dotenv_lines({n: s.entry for n, s in running.items()})
        (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "ERPBRIDGE_DB_URL"}
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-m",
                "erpbridge.cli.main",
                "run",
                "-p",
                str(tmp_path),
                "--port",
                str(port),
                "-w",
                "2",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            done = 0
            while time.monotonic() < deadline:
                time.sleep(0.5)
                try:
                    ready = httpx.get(f"{base}/readyz", timeout=2)
                except httpx.HTTPError:
                    continue
                if ready.status_code != 200:
                    continue
                engine = sa.create_engine(f"sqlite:///{tmp_path / 'erpbridge.db'}")
                with engine.connect() as conn:
                    done = int(
                        conn.execute(
                            sa.text(
                                "select count(*) from jobs where flow = 'customers-to-sap' and state = 'done'"
                            )
                        ).scalar_one()
                    )
                engine.dispose()
                if done >= 300:
                    break
            # a new account created through Salesforce's own API reaches SAP through the webhook
            entry = running["salesforce"].entry
            new_id = _create_account(entry)
            webhook_done = _wait_for(tmp_path, new_id, deadline=time.monotonic() + 30)
            metrics = httpx.get(f"{base}/metrics", timeout=5).text
            unknown = httpx.post(f"{base}/hooks/nope", content=b"{}", timeout=5)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
    assert done >= 300, err.decode(errors="replace")[-2000:]
    assert webhook_done == ("webhook", "created"), err.decode(errors="replace")[-2000:]
    assert 'erpbridge_jobs_total{flow="customers-to-sap",state="done"}' in metrics
    assert unknown.status_code == 404
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    assert b"stopped" in out
