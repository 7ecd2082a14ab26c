"""``erpbridge sandbox`` as a process: serves, writes the ports file, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("erpbridge")


def test_sandbox_command_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    ports = tmp_path / "sandbox.json"
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [
            str(EXE),
            "sandbox",
            "--only",
            "salesforce",
            "--ports-file",
            str(ports),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not ports.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a child process's file: no event to wait on
        entry = json.loads(ports.read_text())["salesforce"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert entry["base_url"].startswith("https://127.0.0.1:")
    assert proc.returncode == 0, err.decode()
    assert b"salesforce" in out
    assert not ports.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "error_rate=2"], "between 0 and 1"),
        (["--only", "salesforse"], "did you mean 'salesforce'"),
    ],
)
def test_sandbox_command_refuses_bad_options_with_a_reason(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [
            str(EXE),
            "sandbox",
            "--data-dir",
            str(tmp_path),
            "--ports-file",
            str(tmp_path / "p.json"),
            *args,
        ],
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # rich would wrap the message in its box
    )
    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert b"Traceback" not in result.stderr
