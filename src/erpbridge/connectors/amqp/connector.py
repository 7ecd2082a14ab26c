"""The spi operations over RabbitMQ (AMQP 0-9-1): erpbridge as a member of an ESB.

``write`` publishes change events to a topic exchange with publisher confirms;
``read_changes`` consumes an object's queue and acknowledges each page only after the
engine committed it. A broker keeps no records, so ``get`` and ``find`` find nothing
(the engine then creates, and subscribers dedup on the message id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence

from erpbridge.connectors.amqp.client import AmqpClient
from erpbridge.connectors.amqp.errors import SYSTEM, map_errors
from erpbridge.connectors.amqp.reader import read_queue
from erpbridge.connectors.amqp.settings import AmqpSettings
from erpbridge.connectors.amqp.stream import read_stream
from erpbridge.connectors.amqp.writer import publish_ops
from erpbridge.spi.errors import ConnectorError, NotFoundError, ValidationError
from erpbridge.spi.records import ChangePage, CheckResult, Cursor, Record, WriteOp, WriteResult
from erpbridge.spi.schema import Catalog, Field, FieldType, ObjectSchema

__all__ = ["AmqpConnector"]


class AmqpConnector:
    """One connection to a RabbitMQ virtual host.

    Args:
        settings: the connection.
        client: a ready wire client (tests); default: made from ``settings``.
    """

    system = SYSTEM

    def __init__(self, settings: AmqpSettings, client: AmqpClient | None = None) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.client = client or AmqpClient(settings)

    async def check(self) -> CheckResult:
        """Log in, then find the exchange and every object's queue. Never raises."""
        details: dict[str, str] = {}
        try:
            connection = await self.client.connection()
            with map_errors(doing="check"):
                channel = await connection.channel(publisher_confirms=False)
                try:
                    await channel.get_exchange(self.settings.exchange, ensure=True)
                    details["exchange"] = self.settings.exchange
                    for name, spec in self.settings.objects.items():
                        if spec.queue is None:
                            continue
                        queue = await channel.get_queue(spec.queue, ensure=True)
                        state = await queue.declare()  # passive: the queue's counters
                        details[f"queue {spec.queue}"] = (
                            f"{state.message_count} waiting, {state.consumer_count} consumers"
                            f" ({name})"
                        )
                finally:
                    if not channel.is_closed:
                        await channel.close()
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
        """Pages of the messages waiting on the object's queue (see ``reader.py``).

        Raises:
            NotFoundError: the object has no queue configured, or the queue is missing.
            ValidationError: ``page_size`` below 1.
        """
        spec = self.settings.objects.get(object)
        if spec is None or spec.queue is None:
            raise NotFoundError(
                f"object {object!r} has no queue configured (objects.{object}.queue)",
                system=SYSTEM,
                object=object,
            )
        if page_size < 1:
            raise ValidationError(f"page_size must be at least 1, not {page_size}", system=SYSTEM)
        if spec.queue_type == "stream":
            pages = read_stream(self.client, object, spec, cursor, page_size)
        else:
            pages = read_queue(self.client, object, spec, cursor, page_size)
        async for page in pages:
            yield page

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """A broker keeps no records: always empty (changes carry their records)."""
        return []

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """A broker keeps no records: always empty, so every first write is a create."""
        return []

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Publish one change event per op with confirms (see ``writer.py``).

        Raises:
            ValidationError: ``object`` cannot be a routing-key word.
            ConnectorError: the exchange cannot be reached at all.
        """
        if not object or any(c in object for c in ".*# "):
            raise ValidationError(
                f"object {object!r} cannot be one routing-key word", system=SYSTEM, object=object
            )
        if not ops:
            return []
        return await publish_ops(self.client, object, ops)

    async def aclose(self) -> None:
        """Close the connection."""
        await self.client.aclose()
