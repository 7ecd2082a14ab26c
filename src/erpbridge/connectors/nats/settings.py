"""The settings of a ``nats`` connection (NATS JetStream; pydantic, validated at load)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from erpbridge.spi.schema import FieldType
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings, Limits

__all__ = ["NatsObject", "NatsSettings", "NatsTls"]

#: a subject token: letters, digits, ``_`` and ``-`` (``.`` separates tokens; ``*`` and
#: ``>`` are wildcards, so a published subject must not contain them).
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")
#: JetStream stream and consumer names: no spaces, dots, ``*``, ``>``, path separators.
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


class NatsObject(BaseModel):
    """One object carried on the bus.

    Attributes:
        stream: the stream ``read_changes`` consumes for this object. None: the object is
            only published.
        subjects: subject filters of this object's consumer (``wms.Shipment.*``); with
            ``declare`` on, a missing stream is created capturing these subjects
            (default: ``<object>.>``, and the consumer then takes the whole stream).
        durable: the durable consumer's name. Default ``erpbridge_<object>``.
        id_field: where a flat message body holds the record id. Default ``id``.
        version_field: where a flat body holds the version; default: the envelope's
            ``version``, else the ``Nats-Msg-Id`` header, else the stream sequence.
        stamp_field: where a flat body holds the change time (ISO 8601 with a zone);
            default: the envelope's ``stamp``, else the time the stream stored it.
        fields: the fields ``describe()`` reports (name -> portable type). Default none.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: str | None = Field(default=None, pattern=_NAME.pattern, max_length=255)
    subjects: tuple[str, ...] = ()
    durable: str | None = Field(default=None, pattern=_NAME.pattern, max_length=255)
    id_field: str = Field(default="id", min_length=1)
    version_field: str | None = None
    stamp_field: str | None = None
    fields: dict[str, FieldType] = Field(default_factory=dict)


class NatsTls(BaseModel):
    """TLS towards the server (and, with ``cert_file``, our client certificate).

    Attributes:
        ca_file: the CA bundle that signed the server's certificate. Default: the
            system's trust store.
        cert_file / key_file: our client certificate and its key (PEM files), for a
            server that verifies clients (``tls { verify: true }``).
        key_password: the key file's passphrase, by reference.
        server_name: the name the server's certificate must carry. Default: the URL's
            host.
        handshake_first: TLS before the server's INFO (``handshake_first`` on the
            server, nats-server 2.10+). Default off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: Secret | None = None
    server_name: str | None = None
    handshake_first: bool = False

    @model_validator(mode="after")
    def _pair(self) -> NatsTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class NatsSettings(ConnectionSettings):
    """One NATS account as one user.

    Attributes:
        url: ``nats://host:4222`` or ``tls://host:4222``; no credentials in the URL.
        user: the user name, when the server wants user and password.
        password: a secret reference for ``user``.
        token: a secret reference, when the server wants a token instead.
        nkey_seed: a user NKEY seed (``SU…``), by reference
            (``${file:/etc/erpbridge/erpbridge.nk}``), for ``users: [{nkey: U…}]``.
        credentials: a user credentials file's content (the JWT and NKEY seed that
            ``nsc`` writes, ``*.creds``), by reference (``${file:/etc/…/erpbridge.creds}``),
            for servers in operator (JWT) mode. One of user/password, token, nkey_seed,
            credentials.
        tls: TLS settings (:class:`NatsTls`); a ``tls://`` URL uses TLS with the
            defaults. Default none.
        stream: the stream our published events go to (subjects ``<system>.>``),
            created with ``declare`` on. Default ``ERPBRIDGE``.
        system: the first token of the subjects we publish
            (``<system>.<object>.<created|updated|deleted>``). Default ``erpbridge``.
        declare: create missing streams (ours, the dead-letter stream, each object's) and
            each object's durable consumer. Default on.
        dead_letter_subject: where poison messages are parked, with the reason in their
            headers. Default ``erpbridge_dead_letter`` (outside ``<system>.>``: JetStream
            refuses two streams whose subjects overlap).
        dead_letter_stream: the stream capturing ``dead_letter_subject``.
            Default ``ERPBRIDGE_DEAD_LETTER``.
        confirm_timeout_s: how long a publish waits for the stream's PubAck. Default 10 s.
        wait_s: how long one fetch waits for messages. Default 0.5 s.
        ack_wait_s: the consumer's AckWait: how long JetStream waits for our ack before it
            redelivers (after a crash). Default 60 s; must exceed a page's commit time.
        read_limit: the most messages one ``read_changes`` call consumes. Default 10 000.
        objects: the objects on the bus, by name.
    """

    url: str
    user: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    nkey_seed: Secret | None = None
    credentials: Secret | None = None
    tls: NatsTls | None = None
    stream: str = Field(default="ERPBRIDGE", pattern=_NAME.pattern, max_length=255)
    system: str = "erpbridge"
    declare: bool = True
    dead_letter_subject: str = Field(default="erpbridge_dead_letter", min_length=1)
    dead_letter_stream: str = Field(
        default="ERPBRIDGE_DEAD_LETTER", pattern=_NAME.pattern, max_length=255
    )
    confirm_timeout_s: float = Field(default=10.0, gt=0)
    wait_s: float = Field(default=0.5, gt=0, le=60)
    ack_wait_s: float = Field(default=60.0, ge=1)
    read_limit: int = Field(default=10_000, ge=1)
    objects: dict[str, NatsObject] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=lambda: Limits(batch_size=500, timeout_s=30.0))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("nats", "tls"):
            raise ValueError("url must start with nats:// or tls://")
        if not parts.hostname:
            raise ValueError("url has no host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("url must not hold credentials; use `user`, `password` or `token`")
        return value

    @field_validator("system")
    @classmethod
    def _system(cls, value: str) -> str:
        if not _TOKEN.match(value):
            raise ValueError("system must be one subject token (letters, digits, _ or -)")
        return value

    @model_validator(mode="after")
    def _objects(self) -> NatsSettings:
        for name in self.objects:
            if not _TOKEN.match(name):
                raise ValueError(
                    f"object {name!r} must be one subject token (letters, digits, _ or -)"
                )
        if self.dead_letter_subject.startswith(self.system + "."):
            raise ValueError(
                f"dead_letter_subject {self.dead_letter_subject!r} lies under {self.system}.>, "
                f"the subjects of stream {self.stream}: JetStream refuses two streams with "
                "overlapping subjects (use e.g. erpbridge_dead_letter)"
            )
        if self.password is not None and self.user is None:
            raise ValueError("password needs user")
        ways = [
            name
            for name, value in (
                ("user/password", self.user),
                ("token", self.token),
                ("nkey_seed", self.nkey_seed),
                ("credentials", self.credentials),
            )
            if value is not None
        ]
        if len(ways) > 1:
            raise ValueError(f"set one way to log in, not {' and '.join(ways)}")
        return self
