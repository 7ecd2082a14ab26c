"""The connector contract (DESIGN.md §5): what every system's connector offers.

A connector is built from a validated settings model and, for HTTP systems, an
``httpx.AsyncClient`` made by the caller (so tests can hand in a ``MockTransport`` or a
simulator's ASGI app). Connectors import only ``spi``, ``mapping`` types and the shared
HTTP helpers; they know nothing of the engine.

Field lists. ``read_changes`` and ``get`` take ``fields``: the top-level fields of the
object the caller will read, lines (to-many navigations, child relationships, entry
lists) included by their own field name; None (the default) means every field. It is a
hint to read less: a connector may return more fields than asked (every field, if it
cannot choose), never fewer of those asked that the record has. The record's id, version
and stamp are the connector's to set whatever is asked: it reads what it needs for them.
Names the object does not have are ignored. A version computed from the record's
content may depend on the fields read; the engine asks with the same list for one flow
every time. A connector that ignores the hint stays
correct; the engine passes it only to methods that declare the parameter, so connectors
written before it (plugins) keep working.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Protocol, runtime_checkable

from erpbridge.spi.records import (
    Change,
    ChangePage,
    CheckResult,
    Cursor,
    Record,
    WriteOp,
    WriteResult,
)
from erpbridge.spi.schema import Catalog
from erpbridge.spi.settings import Limits

__all__ = ["Connector", "ObjectResolver", "WebhookAcknowledger", "WebhookConnector"]


@runtime_checkable
class Connector(Protocol):
    """One configured connection to one system."""

    #: the connector's short name (``salesforce``), used in ``system:object`` addresses.
    system: str
    #: the limits the engine enforces for this connection.
    limits: Limits

    async def check(self) -> CheckResult:
        """Can we reach and authenticate? Never raises; says why not."""
        ...

    async def describe(self) -> Catalog:
        """Objects and fields with types, from the system's own metadata."""
        ...

    def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages of records changed at or after ``cursor.read_from``, in (stamp, id) order.

        ``cursor=None`` reads from the beginning. Each page carries the cursor after its
        last record; the engine stores it only after the page's jobs are committed.

        ``fields`` is a hint (module docstring, "Field lists"): the top-level fields the
        caller will use; None (the default) asks for every field.
        """
        ...

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """The records with these ids; missing ids are simply absent from the answer.

        ``fields``: the same hint as :meth:`read_changes`.
        """
        ...

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Records whose natural key ``key_field`` is one of ``values``."""
        ...

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Write a batch; one result per op, same order. Per-record failures are results.

        Raises:
            ConnectorError: only when the whole call failed (auth, transport, 5xx).
        """
        ...

    async def aclose(self) -> None:
        """Release sessions; the caller closes the HTTP client it passed in."""
        ...


@runtime_checkable
class WebhookConnector(Connector, Protocol):
    """A connector whose system pushes changes to ``/hooks/<connection>``."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Change]:
        """Verify the signature or token, then parse the body into changes.

        ``headers`` also carries ``x-erpbridge-query-string``: the raw query string of the
        delivery URL, for systems that sign values sent there (Jiandaoyun's nonce and
        timestamp).

        Raises:
            AuthError: unsigned, badly signed or expired (the receiver answers 401).
            ValidationError: a body that is not what the system sends (400).
        """
        ...


@runtime_checkable
class WebhookAcknowledger(Protocol):
    """A webhook connector whose system expects a particular answer once changes are stored.

    Salesforce outbound messaging, for one, re-sends until it gets a SOAP ``Ack``. Without
    this, the receiver answers ``200`` with a small JSON body.
    """

    def webhook_ack(self) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) of the answer acknowledging a stored delivery."""
        ...


@runtime_checkable
class ObjectResolver(Protocol):
    """A connector that accepts several names for one object (a label and an id).

    Jiandaoyun forms, for one, can be named by their title (``客户``) or their entry id;
    changes carry the id. The webhook receiver asks for the canonical name to route them.
    """

    async def resolve_object(self, object: str) -> str:
        """The name this connector puts in the ``object`` of its records and changes."""
        ...
