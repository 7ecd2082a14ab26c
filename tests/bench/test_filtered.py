"""bench/filtered.py at a tiny size: the drafts end at intake, the worker claims the rest."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_worker_claims_only_what_when_lets_through(store_url: str) -> None:
    backend = "postgresql" if store_url.startswith("postgresql") else "sqlite"
    bench = ROOT / "bench" / "filtered.py"
    done = subprocess.run(  # noqa: S603 - our own bench script
        [sys.executable, str(bench), "--records", "200", "--page", "50", "--backend", backend],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert result["outcomes"] == {"created": 100, "filtered": 100}
    assert result["claimed"] == 100
    assert result["total_cpu_us"] > 0
