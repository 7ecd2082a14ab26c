"""A recon's target scope filter: ``target_when: target.Origin == "CRM"``.

The expression is the mapping language's, over the target record: its fields are read as
``target.Field`` (the language's own ``source.Field`` is accepted too). It is compiled
once, as a flow ``when:`` is.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable, Mapping

from erpbridge.mapping import MappingSpec, compile_mapping
from erpbridge.spi.errors import ConfigError, MappingError

__all__ = ["compile_target_when"]


def _as_source(expression: str) -> str:
    """``target.X`` -> ``source.X`` outside string literals (the language's record name)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(expression).readline))
    out = []
    for n, token in enumerate(tokens):
        following = tokens[n + 1].string if n + 1 < len(tokens) else ""
        if token.type == tokenize.NAME and token.string == "target" and following in (".", "["):
            token = token._replace(string="source")
        out.append(token)
    return tokenize.untokenize(out)


def compile_target_when(
    flow: str, expression: str | None
) -> Callable[[Mapping[str, object]], bool] | None:
    """A predicate over a target record's fields, or None without an expression.

    Raises:
        ConfigError: the expression does not compile (the reason says where).
    """
    if not expression:
        return None
    try:
        text = _as_source(expression)
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise ConfigError(f"{exc}", field=f"flows.{flow}.recon.target_when") from exc
    try:
        mapping = compile_mapping(MappingSpec(flow=flow, rules={"_": "true"}, when=text))
    except MappingError as exc:
        raise ConfigError(
            str(exc).replace("source.", "target."), field=f"flows.{flow}.recon.target_when"
        ) from exc
    return mapping.accepts
