"""Live connections of a running project: connectors built on demand, each behind its guard."""

from __future__ import annotations

from collections.abc import Mapping

from erpbridge.config import Project
from erpbridge.engine.clock import Clock, SystemClock
from erpbridge.engine.limits import ConnectionGuard
from erpbridge.engine.plans import build_plans
from erpbridge.engine.unchanged import ContentKey, content_key
from erpbridge.spi.connector import Connector
from erpbridge.spi.errors import ConfigError, ErpBridgeError
from erpbridge.spi.registry import ConnectorRegistry

__all__ = ["Runtime"]


class Runtime:
    """Builds each connection's connector once and keeps its :class:`ConnectionGuard`.

    Args:
        project: the loaded project.
        registry: where connector types are found. Default: built-ins and plugins.
        clock: for rate limits and breakers. Default: the system clock.
        connectors: ready-made connectors by connection name (tests, embedding); they
            take precedence over the registry.
    """

    def __init__(
        self,
        project: Project,
        registry: ConnectorRegistry | None = None,
        clock: Clock | None = None,
        connectors: Mapping[str, Connector] | None = None,
    ) -> None:
        self.project = project
        self.clock = clock or SystemClock()
        self._registry = registry or ConnectorRegistry()
        self._connectors: dict[str, Connector] = dict(connectors or {})
        self._given = frozenset(self._connectors)
        self._guards: dict[str, ConnectionGuard] = {}
        self._reads: dict[str, tuple[frozenset[str] | None, ContentKey | None]] | None = None

    def _read_plan(self, flow: str) -> tuple[frozenset[str] | None, ContentKey | None]:
        """(source fields, content key) of ``flow``, worked out once from the plans of the
        project's enabled flows (what a worker builds)."""
        if self._reads is None:
            try:
                plans = build_plans(self.project)
            except ErpBridgeError:  # reported where the flows are built; read everything
                plans = {}
            self._reads = {
                name: (plan.source_fields, content_key(plan)) for name, plan in plans.items()
            }
        return self._reads.get(flow, (None, None))

    def source_fields(self, flow: str) -> frozenset[str] | None:
        """The source fields ``flow`` uses (its plan's ``source_fields``); None: every field.

        A flow that is not among the enabled ones (disabled, or its mapping does not
        compile) reads every field.
        """
        return self._read_plan(flow)[0]

    def content_key(self, flow: str) -> ContentKey | None:
        """How ``flow`` digests a change's content at intake (engine/unchanged.py); None
        where its fields are not known (nothing is then dropped as unchanged)."""
        return self._read_plan(flow)[1]

    def connector(self, name: str) -> Connector:
        """The connector of connection ``name`` (built on first use).

        Raises:
            ConfigError: no such connection.
        """
        if name not in self._connectors:
            if name not in self.project.connections:
                raise ConfigError(f"unknown connection {name!r}")
            kind = self.project.spec.connections[name].type
            spec = self._registry.get(kind)
            self._connectors[name] = spec.create(self.project.connections[name], None)
        return self._connectors[name]

    def guard(self, name: str) -> ConnectionGuard:
        """The limits guard of connection ``name``."""
        if name not in self._guards:
            self._guards[name] = ConnectionGuard(name, self.connector(name).limits, self.clock)
        return self._guards[name]

    def forget_built_connectors(self) -> None:
        """Drop the connectors built from the registry, and every guard (in a forked child).

        Their network clients and the guards' locks belong to the parent process; the
        child builds its own on first use. Ready-made connectors are kept.
        """
        self._connectors = {n: c for n, c in self._connectors.items() if n in self._given}
        self._guards = {}

    async def aclose(self) -> None:
        """Close every connector that was built."""
        for connector in self._connectors.values():
            await connector.aclose()
