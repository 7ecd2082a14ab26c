"""bench/filtered.py at a tiny size: the drafts end at intake, the worker claims the rest."""

from __future__ import annotations

from tests.bench.run import run_bench


def test_the_worker_claims_only_what_when_lets_through(store_url: str) -> None:
    backend = "postgresql" if store_url.startswith("postgresql") else "sqlite"
    result = run_bench(
        "filtered.py", "--records", "200", "--page", "50", "--backend", backend, timeout=120
    )
    assert result["outcomes"] == {"created": 100, "filtered": 100}
    assert result["claimed"] == 100
    assert result["total_cpu_us"] > 0
