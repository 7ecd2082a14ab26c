"""Run a script of bench/ at a tiny size and read the figures it printed last."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    """``bench/<script>`` with ``args``; the dict its last line of output holds."""
    done = subprocess.run(  # noqa: S603 - our own bench script
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result
