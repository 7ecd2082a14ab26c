"""The connector contract: records, cursors, writes, schemas, errors, settings, registry."""

from erpbridge.spi.connector import (
    Connector,
    ObjectResolver,
    WebhookAcknowledger,
    WebhookConnector,
)
from erpbridge.spi.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    ConnectorError,
    ErpBridgeError,
    MappingError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import (
    Change,
    ChangeKind,
    ChangePage,
    CheckResult,
    Cursor,
    ReadError,
    Record,
    WriteMode,
    WriteOp,
    WriteOutcome,
    WriteResult,
    ensure_utc,
)
from erpbridge.spi.registry import Capability, ConnectorRegistry, ConnectorSpec
from erpbridge.spi.schema import Catalog, Field, FieldType, ObjectSchema
from erpbridge.spi.secrets import Secret, SecretResolver
from erpbridge.spi.settings import ConnectionSettings, Limits

__all__ = [
    "AuthError",
    "Capability",
    "Catalog",
    "Change",
    "ChangeKind",
    "ChangePage",
    "CheckResult",
    "ConfigError",
    "ConflictError",
    "ConnectionSettings",
    "Connector",
    "ConnectorError",
    "ConnectorRegistry",
    "ConnectorSpec",
    "Cursor",
    "ErpBridgeError",
    "Field",
    "FieldType",
    "Limits",
    "MappingError",
    "NotFoundError",
    "ObjectResolver",
    "ObjectSchema",
    "RateLimitedError",
    "ReadError",
    "Record",
    "Secret",
    "SecretResolver",
    "TransientError",
    "ValidationError",
    "WebhookAcknowledger",
    "WebhookConnector",
    "WriteMode",
    "WriteOp",
    "WriteOutcome",
    "WriteResult",
    "ensure_utc",
]
