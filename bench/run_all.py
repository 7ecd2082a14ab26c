"""Run every benchmark in bench/ (``make bench``); each prints its own figures.

Benchmarks are never tests: they run on demand and their figures go to
docs/performance.md with the machine and the command that produced them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    """Run each ``bench/*.py`` (except this file) in its own process; return the worst code."""
    worst = 0
    for script in sorted(HERE.glob("*.py")):
        if script.name == Path(__file__).name or script.name.startswith("_"):
            continue
        print(f"== {script.name}", flush=True)
        worst = max(worst, subprocess.call([sys.executable, str(script)]))  # noqa: S603 - our own scripts
    return worst


if __name__ == "__main__":
    sys.exit(main())
