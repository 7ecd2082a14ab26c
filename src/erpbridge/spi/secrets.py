"""Secret references: ``${env:NAME}`` and ``${file:/path}``, resolved at run time.

A project file never holds a password; it holds a reference. The value is read when a
connection is built, kept only inside :class:`Secret`, and registered with
:func:`known_secret_values` so the log redactor can blank it wherever it shows up.
A ``Secret`` prints as its reference, never as its value.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler, ValidationInfo
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "SECRET_REF",
    "Secret",
    "SecretResolver",
    "is_secret_ref",
    "known_secret_values",
    "load_dotenv",
]

SECRET_REF = re.compile(r"^\$\{(?P<kind>env|file):(?P<arg>[^}]+)\}$")

_known_lock = threading.Lock()
_known: set[str] = set()


def known_secret_values() -> frozenset[str]:
    """Every secret value resolved in this process so far (for redaction only)."""
    with _known_lock:
        return frozenset(_known)


def _remember(value: str) -> None:
    # Very short values would blank ordinary words in logs; 4+ characters is a secret.
    if len(value) >= 4:
        with _known_lock:
            _known.add(value)


def is_secret_ref(text: object) -> bool:
    """True when ``text`` is a ``${env:…}`` or ``${file:…}`` reference."""
    return isinstance(text, str) and SECRET_REF.match(text.strip()) is not None


def load_dotenv(path: Path) -> dict[str, str]:
    """Read a ``.env`` file (KEY=value, # comments, optional quotes); missing file -> {}."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


class SecretResolver:
    """Resolves references against the environment, a ``.env`` mapping and files.

    Args:
        environ: the process environment (default ``os.environ``), looked at first.
        dotenv: values from the project's ``.env``, looked at second.
        base_dir: relative ``${file:…}`` paths are taken from here.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        dotenv: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._dotenv = dict(dotenv or {})
        self._base_dir = base_dir or Path.cwd()

    def resolve(self, ref: str) -> str:
        """The value behind ``ref``.

        Raises:
            LookupError: the reference is malformed or does not resolve; the message
                names the reference, never a value.
        """
        match = SECRET_REF.match(ref.strip())
        if match is None:
            raise LookupError(
                f"{ref!r} is not a secret reference (${{env:NAME}} or ${{file:path}})"
            )
        kind, arg = match["kind"], match["arg"].strip()
        if kind == "env":
            if arg in self._environ:
                value = self._environ[arg]
            elif arg in self._dotenv:
                value = self._dotenv[arg]
            else:
                raise LookupError(f"environment variable {arg} is not set (nor in .env)")
        else:
            path = Path(arg)
            if not path.is_absolute():
                path = self._base_dir / path
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise LookupError(f"secret file {path} cannot be read ({exc.strerror})") from exc
        _remember(value)
        return value


class Secret:
    """A secret held by reference; ``reveal()`` gives the value, ``str()`` the reference.

    In a pydantic model, a ``Secret`` field accepts a reference string. When the model is
    validated with ``context={"secrets": resolver}`` the reference is resolved then (so a
    bad reference is a validation error at load); otherwise at the first ``reveal()``.
    """

    __slots__ = ("_ref", "_resolver", "_value")

    def __init__(self, ref: str, resolver: SecretResolver | None = None) -> None:
        self._ref = ref.strip()
        self._resolver = resolver
        self._value: str | None = None

    @property
    def ref(self) -> str:
        """The reference text, safe to show."""
        return self._ref

    def reveal(self) -> str:
        """The secret value (resolved once, then cached in this object)."""
        if self._value is None:
            resolver = self._resolver or SecretResolver()
            self._value = resolver.resolve(self._ref)
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._ref!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._ref == self._ref

    def __hash__(self) -> int:
        return hash(self._ref)

    @classmethod
    def literal(cls, value: str) -> Secret:
        """A secret given in code (tests, the sandbox), never read from a project file."""
        secret = cls("${literal}")
        secret._value = value
        _remember(value)
        return secret

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda s: s.ref, when_used="always"
            ),
        )

    @classmethod
    def _validate(cls, value: object, info: ValidationInfo) -> Secret:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str) or not is_secret_ref(value):
            # Never echo the value: it may be a pasted password.
            raise PydanticCustomError(
                "secret_ref",
                "a secret must be a reference like ${env:NAME} or ${file:path}, "
                "not a literal value",
            )
        resolver = None
        if isinstance(info.context, dict):
            resolver = info.context.get("secrets")
        secret = cls(value, resolver if isinstance(resolver, SecretResolver) else None)
        if secret._resolver is not None:
            try:
                secret.reveal()
            except LookupError as exc:
                raise PydanticCustomError(
                    "secret_unresolved",
                    "secret {ref} does not resolve: {why}",
                    {"ref": value, "why": str(exc)},
                ) from exc
        return secret
