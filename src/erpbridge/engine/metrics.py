"""Prometheus metrics of the engine (served at ``/metrics``).

Each :class:`Metrics` owns its registry, so tests and several engines in one process do
not collide; the server exposes the process's own instance.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """Counters, gauges and histograms the engine updates."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.jobs = Counter(
            "erpbridge_jobs_total", "Jobs by flow and end state", ["flow", "state"], registry=r
        )
        self.queue = Gauge(
            "erpbridge_queue_jobs",
            "Jobs in the store by flow and state",
            ["flow", "state"],
            registry=r,
        )
        self.intake = Counter(
            "erpbridge_intake_total",
            "Changes taken in by flow, trigger and result",
            ["flow", "trigger", "result"],
            registry=r,
        )
        self.intake_latency = Histogram(
            "erpbridge_intake_seconds",
            "Time to commit one intake batch",
            ["trigger"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.write_latency = Histogram(
            "erpbridge_write_seconds",
            "Time of one write call to a target",
            ["connection"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.job_latency = Histogram(
            "erpbridge_job_seconds",
            "Intake to done, per job",
            ["flow"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.target_calls = Counter(
            "erpbridge_target_calls_total",
            "Calls to targets by connection and result class",
            ["connection", "result"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "erpbridge_dead_letters_open", "Open dead letters by flow", ["flow"], registry=r
        )
        self.cursor_lag = Gauge(
            "erpbridge_cursor_lag_seconds",
            "Now minus the poll cursor's stamp",
            ["flow"],
            registry=r,
        )
        self.holds = Counter(
            "erpbridge_holds_total",
            "Hold actions by flow: held, released (by approval, check, recheck, person), rejected",
            ["flow", "action", "by"],
            registry=r,
        )
        self.held = Gauge(
            "erpbridge_jobs_held", "Jobs held for a person now, by flow", ["flow"], registry=r
        )
        self.skipped = Counter(
            "erpbridge_jobs_skipped_total",
            "Records skipped (outcome filtered) by flow: by the flow's when: or by an xref "
            'lookup with missing="skip" that has no target',
            ["flow", "by"],
            registry=r,
        )
        self.echoes = Counter(
            "erpbridge_echoes_dropped_total",
            "Changes dropped as echoes of our own writes",
            ["flow"],
            registry=r,
        )
        self.pruned = Counter(
            "erpbridge_pruned_total",
            "Rows deleted by the job retention (store.retention), by table: jobs, attempts, "
            "dead_letters",
            ["table"],
            registry=r,
        )
