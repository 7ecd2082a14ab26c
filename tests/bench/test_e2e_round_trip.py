"""bench/e2e.py --round-trip at a tiny size: both order flows run by the hub, every
order that reached SAP has its SAP status back on the Salesforce order."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench.run import run_bench

pytestmark = pytest.mark.slow


def _round_trip(*args: str) -> dict[str, Any]:
    """Run the bench at a tiny size; returns the figures it printed."""
    return run_bench("e2e.py", "--round-trip", *args, "--poll-s", "1", "--max-s", "120")


def test_round_trip_bench_brings_every_written_orders_status_back() -> None:
    result = _round_trip("--orders", "20")
    assert result["mode"] == "round-trip"
    assert not result["timed_out"]
    assert result["written_to_sap"] + result["held"] == 20
    assert result["written_to_sap"] > 0
    assert result["round_trips"] == result["written_to_sap"]
    assert result["all_back"] is True
    assert result["round_trips_per_s"] > 0
    # each status written back comes round to orders-to-sap as nothing new for it: taken
    # in as done (engine/unchanged.py), or, had it been queued, worked to an echo
    assert result["echo_jobs"] + result["done_at_intake"] >= result["round_trips"]
    assert result["done_at_intake"] > 0


def test_round_trip_bench_with_worker_processes_beside_the_intake() -> None:
    """`--worker-processes 1 --hub-workers 0`: the bench's process only takes changes in,
    an `erpbridge worker` process works every job, and is stopped at the end."""
    result = _round_trip("--orders", "10", "--worker-processes", "1", "--hub-workers", "0")
    assert not result["timed_out"]
    assert result["worker_processes"] == 1
    assert result["round_trips"] == result["written_to_sap"] > 0
    assert result["hub_worker_processes_cpu_ms_per_order"] > 0
