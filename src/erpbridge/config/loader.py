"""Load a project: YAML with marks -> ProjectSpec -> per-connector settings -> cross-checks.

Every problem is collected and raised together as :class:`ConfigErrors`, so
``erpbridge validate`` lists them all at once, each with file, line, column and field.
Nothing is written anywhere while loading.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError as PydanticValidationError

from erpbridge.config.errors import ConfigErrors, did_you_mean, from_pydantic, located
from erpbridge.config.model import ProjectSpec
from erpbridge.config.yamlfile import Marks, load_yaml, load_yaml_text
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.registry import Capability, ConnectorRegistry
from erpbridge.spi.secrets import Secret, SecretResolver, is_secret_ref, load_dotenv
from erpbridge.spi.settings import ConnectionSettings

__all__ = [
    "DB_URL_ENV",
    "PROJECT_FILE",
    "Project",
    "find_project_file",
    "load_project",
    "load_project_text",
]

PROJECT_FILE = "erpbridge.yaml"
DB_URL_ENV = "ERPBRIDGE_DB_URL"
PROJECT_ENV = "ERPBRIDGE_PROJECT"


@dataclass(frozen=True, slots=True)
class Project:
    """A loaded, validated project.

    Attributes:
        path: the project file.
        spec: the validated project file.
        connections: connection name -> its connector's validated settings.
        marks: positions of every key, for later checks (mappings) to point at lines.
        resolver: resolves secret references (environment, then the project's .env).
    """

    path: Path
    spec: ProjectSpec
    connections: Mapping[str, ConnectionSettings]
    marks: Marks
    resolver: SecretResolver

    @property
    def base_dir(self) -> Path:
        """The project folder (relative paths in the file are taken from here)."""
        return self.path.parent

    def store_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The store URL: ``$ERPBRIDGE_DB_URL``, else ``store.url``, else SQLite in the folder."""
        env = os.environ if environ is None else environ
        if env.get(DB_URL_ENV):
            return env[DB_URL_ENV]
        url = self.spec.store.url
        if url and is_secret_ref(url):
            return self.resolver.resolve(url)
        if url:
            return url
        return f"sqlite:///{self.base_dir / 'erpbridge.db'}"


def find_project_file(
    explicit: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """``explicit``, else ``$ERPBRIDGE_PROJECT``, else ``./erpbridge.yaml`` (a folder: its file)."""
    env = os.environ if environ is None else environ
    path = explicit or (Path(env[PROJECT_ENV]) if env.get(PROJECT_ENV) else Path(PROJECT_FILE))
    if path.is_dir():
        path = path / PROJECT_FILE
    return path


def load_project(
    path: Path,
    *,
    registry: ConnectorRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Project:
    """Load and validate the project file at ``path``.

    Raises:
        ConfigErrors: every problem found (one ConfigError each).
    """
    try:
        document = load_yaml(path)
    except ConfigError as exc:
        raise ConfigErrors([exc]) from exc
    return _build(document.data, document.marks, path, registry, environ)


def load_project_text(
    text: str,
    *,
    path: Path = Path(PROJECT_FILE),
    registry: ConnectorRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Project:
    """Like :func:`load_project` for text in memory (tests, the web console)."""
    try:
        document = load_yaml_text(text, str(path))
    except ConfigError as exc:
        raise ConfigErrors([exc]) from exc
    return _build(document.data, document.marks, path, registry, environ)


def _build(
    data: Any,
    marks: Marks,
    path: Path,
    registry: ConnectorRegistry | None,
    environ: Mapping[str, str] | None,
) -> Project:
    registry = registry or ConnectorRegistry()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigErrors([located("the project file must be a mapping of keys", marks, ())])
    resolver = SecretResolver(
        environ=environ, dotenv=load_dotenv(path.parent / ".env"), base_dir=path.parent
    )
    try:
        spec = ProjectSpec.model_validate(data)
    except PydanticValidationError as exc:
        found = from_pydantic(exc, marks, ProjectSpec)
        # Still check the connections that parsed, so one run shows every problem.
        found += _check_connections_raw(data, marks, registry, resolver)
        raise ConfigErrors(found) from exc
    errors: list[ConfigError] = []
    connections = _validate_connections(spec, marks, registry, resolver, errors)
    errors += _cross_check(spec, marks)
    errors += _check_capabilities(spec, marks, registry)
    if spec.store.url and is_secret_ref(spec.store.url):
        try:
            resolver.resolve(spec.store.url)
        except LookupError as exc:
            errors.append(
                located(f"secret does not resolve: {exc}", marks, ("store", "url"), at_value=True)
            )
    if errors:
        raise ConfigErrors(errors)
    return Project(path=path, spec=spec, connections=connections, marks=marks, resolver=resolver)


def _settings_of(
    name: str,
    entry: Mapping[str, Any],
    marks: Marks,
    registry: ConnectorRegistry,
    resolver: SecretResolver,
    errors: list[ConfigError],
) -> ConnectionSettings | None:
    loc = ("connections", name)
    kind = entry.get("type")
    if not isinstance(kind, str):
        return None  # reported by the model pass
    try:
        spec = registry.get(kind)
    except ConfigError as exc:
        errors.append(located(exc.reason, marks, (*loc, "type"), at_value=True))
        return None
    settings = _interpolate(
        {k: v for k, v in entry.items() if k != "type"}, spec.settings, resolver, marks, loc, errors
    )
    if settings is None:
        return None
    try:
        return spec.settings.model_validate(settings, context={"secrets": resolver})
    except PydanticValidationError as exc:
        errors += from_pydantic(exc, marks, spec.settings, prefix=loc)
        return None


def _is_secret_field(model: type[ConnectionSettings], name: str) -> bool:
    field = model.model_fields.get(name)
    if field is None:
        return False
    annotation = field.annotation
    return annotation is Secret or Secret in get_args(annotation)


def _interpolate(
    settings: dict[str, Any],
    model: type[ConnectionSettings],
    resolver: SecretResolver,
    marks: Marks,
    loc: tuple[str, ...],
    errors: list[ConfigError],
) -> dict[str, Any] | None:
    """Resolve ``${env:…}``/``${file:…}`` in plain (non-secret) top-level settings.

    Secret fields keep their reference (resolved inside :class:`Secret`); other fields,
    such as a base URL that differs per environment, get the value at load.
    """
    ok = True
    out = dict(settings)
    for key, value in settings.items():
        if is_secret_ref(value) and not _is_secret_field(model, key):
            try:
                out[key] = resolver.resolve(value)
            except LookupError as exc:
                ok = False
                errors.append(
                    located(f"{value} does not resolve: {exc}", marks, (*loc, key), at_value=True)
                )
    return out if ok else None


def _validate_connections(
    spec: ProjectSpec,
    marks: Marks,
    registry: ConnectorRegistry,
    resolver: SecretResolver,
    errors: list[ConfigError],
) -> dict[str, ConnectionSettings]:
    out: dict[str, ConnectionSettings] = {}
    for name, entry in spec.connections.items():
        raw = {"type": entry.type, **(entry.model_extra or {})}
        settings = _settings_of(name, raw, marks, registry, resolver, errors)
        if settings is not None:
            out[name] = settings
    return out


def _check_connections_raw(
    data: Mapping[str, Any], marks: Marks, registry: ConnectorRegistry, resolver: SecretResolver
) -> list[ConfigError]:
    errors: list[ConfigError] = []
    connections = data.get("connections")
    if isinstance(connections, dict):
        for name, entry in connections.items():
            if isinstance(entry, dict):
                _settings_of(str(name), entry, marks, registry, resolver, errors)
    return errors


def _cross_check(spec: ProjectSpec, marks: Marks) -> list[ConfigError]:
    errors: list[ConfigError] = []
    known = list(spec.connections)
    for flow_name, flow in spec.flows.items():
        for side in ("source", "target"):
            connection = getattr(flow, side).connection
            if connection not in spec.connections:
                hint = did_you_mean(connection, known) or (
                    f" (defined: {', '.join(known)})" if known else " (no connections are defined)"
                )
                errors.append(
                    located(
                        f"unknown connection {connection!r}{hint}",
                        marks,
                        ("flows", flow_name, side, "connection"),
                        at_value=True,
                    )
                )
        hold_connections: list[tuple[str | None, tuple[str | int, ...]]] = []
        if flow.hold is not None:
            hold_connections += [
                (r.connection, ("flows", flow_name, "hold", "related", name, "connection"))
                for name, r in flow.hold.related.items()
            ]
            if flow.hold.flag is not None:
                hold_connections.append(
                    (flow.hold.flag.connection, ("flows", flow_name, "hold", "flag", "connection"))
                )
        for connection, where in hold_connections:
            if connection is not None and connection not in spec.connections:
                errors.append(
                    located(
                        f"unknown connection {connection!r}{did_you_mean(connection, known)}",
                        marks,
                        where,
                        at_value=True,
                    )
                )
        for index, dependency in enumerate(flow.depends_on):
            if dependency not in spec.flows:
                errors.append(
                    located(
                        f"unknown flow {dependency!r}{did_you_mean(dependency, list(spec.flows))}",
                        marks,
                        ("flows", flow_name, "depends_on", index),
                        at_value=True,
                    )
                )
    return errors


def _check_capabilities(
    spec: ProjectSpec, marks: Marks, registry: ConnectorRegistry
) -> list[ConfigError]:
    """Triggers that only some connectors can serve, asked of the connector's capabilities."""
    errors: list[ConfigError] = []
    for flow_name, flow in spec.flows.items():
        if flow.source.trigger.file_drop is None:
            continue
        entry = spec.connections.get(flow.source.connection)
        if entry is None:
            continue  # reported by _cross_check
        try:
            capabilities = registry.get(entry.type).capabilities
        except ConfigError:
            continue  # an unknown type is reported with the connection
        if Capability.FILE_DROP not in capabilities:
            every = flow.source.trigger.file_drop.total_seconds()
            errors.append(
                located(
                    f"file_drop needs a file source (a connector that reads a folder of "
                    f"files); connection {flow.source.connection!r} is of type "
                    f"{entry.type!r}, which has none: use poll: {every:g}s",
                    marks,
                    ("flows", flow_name, "source", "trigger", "file_drop"),
                )
            )
    return errors
