"""Turn pydantic validation errors into located, one-line :class:`ConfigError` values."""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from erpbridge.config.yamlfile import Marks
from erpbridge.spi.errors import ConfigError, ErpBridgeError

__all__ = ["ConfigErrors", "did_you_mean", "from_pydantic", "located"]


class ConfigErrors(ErpBridgeError):  # noqa: N818 - plural of ConfigError, by design
    """Every problem found in a project file, in file order."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.path or "", e.line or 0, e.column or 0))
        super().__init__("\n".join(e.describe() for e in self.errors))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a close match exists, else ``""``."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def dotted(loc: Sequence[str | int]) -> str:
    """``("flows", "a", "map", 0)`` -> ``flows.a.map[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def located(
    reason: str, marks: Marks, loc: Sequence[str | int], *, at_value: bool = False
) -> ConfigError:
    """A :class:`ConfigError` at ``loc`` in the file that ``marks`` describes."""
    position = marks.value_at(loc) if at_value else marks.locate(loc)
    line, column = position if position else (None, None)
    return ConfigError(reason, path=marks.path, line=line, column=column, field=dotted(loc))


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            preferred = [a for a in members if _is_model(a) or get_origin(a) in (dict, list)]
            tp = (preferred or members)[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if _is_model(current):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    return current if _is_model(current) else None


def _reason(err: Any, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        choices = list(parent.model_fields) if parent else []
        return f"unknown key {loc[-1]!r}{did_you_mean(str(loc[-1]), choices)}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r}"
    message = str(err["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    return message[0].lower() + message[1:] if message else kind


def from_pydantic(
    exc: PydanticValidationError,
    marks: Marks,
    model: type[BaseModel],
    prefix: Sequence[str | int] = (),
) -> list[ConfigError]:
    """One located :class:`ConfigError` per pydantic error; input values are never echoed."""
    out: list[ConfigError] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(p for p in err["loc"] if p != "[key]")
        on_key = "[key]" in err["loc"]
        reason = _reason(err, model, loc)
        if on_key:
            reason = f"invalid name {loc[-1]!r}: {reason}"
        out.append(
            located(
                reason,
                marks,
                (*prefix, *loc),
                at_value=not on_key and err["type"] not in ("missing", "extra_forbidden"),
            )
        )
    return out
