"""The spi operations over NATS JetStream: the same bus semantics as ``amqp``.

``write`` publishes change events to subjects ``<system>.<object>.<event>`` and counts a
write done only when the stream acknowledged storing it; ``read_changes`` pulls from an
object's durable consumer and acknowledges each page only after the engine committed it.
A stream here is a bus, not a record store: ``get`` and ``find`` find nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence

from erpbridge.connectors.nats.client import NatsClient, durable_of
from erpbridge.connectors.nats.errors import SYSTEM, map_errors
from erpbridge.connectors.nats.reader import read_stream
from erpbridge.connectors.nats.settings import NatsSettings
from erpbridge.connectors.nats.writer import publish_ops
from erpbridge.spi.errors import ConnectorError, NotFoundError, ValidationError
from erpbridge.spi.records import ChangePage, CheckResult, Cursor, Record, WriteOp, WriteResult
from erpbridge.spi.schema import Catalog, Field, FieldType, ObjectSchema

__all__ = ["NatsConnector"]


class NatsConnector:
    """One connection to a NATS account with JetStream."""

    system = SYSTEM

    def __init__(self, settings: NatsSettings, client: NatsClient | None = None) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.client = client or NatsClient(settings)

    async def check(self) -> CheckResult:
        """Connect, then find our stream and every object's stream and consumer. Never raises."""
        details: dict[str, str] = {}
        try:
            js = await self.client.jetstream()
            with map_errors(doing="check"):
                info = await js.stream_info(self.settings.stream)
                details["stream"] = f"{self.settings.stream}: {info.state.messages} messages"
                for name, spec in self.settings.objects.items():
                    if spec.stream is None:
                        continue
                    consumer = await js.consumer_info(spec.stream, durable_of(name, spec))
                    details[f"consumer {consumer.name}"] = (
                        f"{consumer.num_pending} waiting, {consumer.num_ack_pending} unacked"
                        f" ({name} on {spec.stream})"
                    )
        except ConnectorError as exc:
            return CheckResult(ok=False, reason=f"{type(exc).__name__}: {exc}", details=details)
        return CheckResult(ok=True, reason="connected", details=details)

    async def describe(self) -> Catalog:
        """The objects configured on the bus, with the fields their settings declare."""
        objects = {}
        for name, spec in self.settings.objects.items():
            fields = [Field(name=spec.id_field, type=FieldType.STRING, required=True)]
            fields += [Field(name=n, type=t) for n, t in spec.fields.items() if n != spec.id_field]
            objects[name] = ObjectSchema(name=name, fields=fields, id_field=spec.id_field)
        return Catalog(objects=objects)

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages of the messages waiting for the object's durable consumer (``reader.py``).

        Raises:
            NotFoundError: the object has no stream configured, or it is missing.
            ValidationError: ``page_size`` below 1.
        """
        spec = self.settings.objects.get(object)
        if spec is None or spec.stream is None:
            raise NotFoundError(
                f"object {object!r} has no stream configured (objects.{object}.stream)",
                system=SYSTEM,
                object=object,
            )
        if page_size < 1:
            raise ValidationError(f"page_size must be at least 1, not {page_size}", system=SYSTEM)
        async for page in read_stream(self.client, object, spec, cursor, page_size):
            yield page

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """A bus keeps no records: always empty (changes carry their records)."""
        return []

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """A bus keeps no records: always empty, so every first write is a create."""
        return []

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Publish one change event per op, each stored by the stream (``writer.py``).

        Raises:
            ValidationError: ``object`` cannot be one subject token.
            ConnectorError: the server cannot be reached at all.
        """
        if not object or any(c in object for c in ".*> "):
            raise ValidationError(
                f"object {object!r} cannot be one subject token", system=SYSTEM, object=object
            )
        if not ops:
            return []
        return await publish_ops(self.client, object, ops)

    async def aclose(self) -> None:
        """Close the connection."""
        await self.client.aclose()
