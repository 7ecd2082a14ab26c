"""Parse one expression with Python's own ``ast``, under a whitelist of node types.

The language is a small subset of Python expression syntax plus two additions that the
tokenizer rewrites before ``ast.parse`` sees the text:

* ``.Quantity`` / ``.["数量"]`` at the start of an operand means "field of the current
  line" inside ``each``; it becomes a reserved placeholder name that user text cannot
  spell (we remember where we put it).
* a Python keyword used as a keyword argument (``money(x, from="CNY")``) gets a trailing
  underscore so the call parses; the compiler strips it again.

Positions are kept exact: every character of the parsed text maps back to a character of
the user's text, so errors point at the file, line and column (issue 5, "Bad input").
"""

from __future__ import annotations

import ast
import io
import keyword
import tokenize
import warnings
from dataclasses import dataclass

from erpbridge.mapping.types import MAX_DEPTH, MAX_EXPRESSION_CHARS, MAX_NODES

__all__ = ["LINE_NAME", "ExpressionSyntaxError", "ParsedExpression", "parse_expression"]

#: the placeholder the tokenizer writes for "the current line" (``.Field``).
LINE_NAME = "_"

_ALLOWED: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.List,
    ast.Tuple,
    ast.Dict,
)

_REFUSED_NAMES: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.NamedExpr: "assignment (:=)",
    ast.Starred: "* unpacking",
    ast.JoinedStr: "f-strings (use concat())",
    ast.FormattedValue: "f-strings (use concat())",
    ast.Set: "set literals (use a list: [a, b])",
    ast.Slice: "slices (use substr(), left() or right())",
    ast.Pow: "** (power)",
    ast.MatMult: "@",
    ast.BitAnd: "bitwise operators",
    ast.BitOr: "bitwise operators",
    ast.BitXor: "bitwise operators",
    ast.LShift: "bitwise operators",
    ast.RShift: "bitwise operators",
    ast.Invert: "~",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

# what Chinese input methods type in place of ASCII punctuation
_FULLWIDTH_PUNCTUATION = {
    "（": "(", "）": ")", "，": ",", "“": '"', "”": '"', "‘": "'", "’": "'", "：": ":",
    "【": "[", "】": "]", "｛": "{", "｝": "}", "＝": "=", "＋": "+", "－": "-", "＊": "*",
    "／": "/", "＞": ">", "＜": "<", "。": ".", "．": ".", "；": ";",
}  # fmt: skip
_OPERAND_END_OPS = frozenset({")", "]", "}"})
_SKIP = frozenset({tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT})


class ExpressionSyntaxError(ValueError):
    """The text is not a valid expression; ``offset`` is a 0-based index into it."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class ParsedExpression:
    """A parsed, whitelisted expression that knows where each node came from."""

    text: str
    tree: ast.expr
    _parsed: str
    _origin: tuple[int, ...]  # parsed-text char index -> user-text char index
    _line_starts: tuple[int, ...]  # parsed-text char index of each line start
    _line_marks: frozenset[int]  # parsed-text char index of each line placeholder

    def _index(self, lineno: int | None, col_bytes: int | None) -> int:
        if lineno is None or col_bytes is None:
            return 0
        start = self._line_starts[lineno - 1]
        end = self._line_starts[lineno] if lineno < len(self._line_starts) else len(self._parsed)
        line = self._parsed[start:end]
        return start + len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="replace"))

    def start(self, node: ast.AST) -> int:
        """0-based index in ``text`` where ``node`` starts."""
        i = self._index(getattr(node, "lineno", None), getattr(node, "col_offset", None))
        return self._origin[min(i, len(self._origin) - 1)]

    def end(self, node: ast.AST) -> int:
        """0-based index in ``text`` just after ``node``."""
        i = self._index(getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None))
        if i == 0:
            return len(self.text)
        return self._origin[min(i - 1, len(self._origin) - 1)] + 1

    def segment(self, node: ast.AST) -> str:
        """The user's own text of ``node`` (a line placeholder shows as ``.``)."""
        return self.text[self.start(node) : self.end(node)].strip()

    def is_line_mark(self, node: ast.Name) -> bool:
        """True when ``node`` is a placeholder the tokenizer wrote for ``.Field``."""
        return self._index(node.lineno, node.col_offset) in self._line_marks

    def where(self, offset: int) -> tuple[int, int]:
        """(line, column), both 0-based, of a character index in ``text``."""
        before = self.text[:offset]
        line = before.count("\n")
        return line, offset - (before.rfind("\n") + 1)


def parse_expression(text: str) -> ParsedExpression:
    """Parse ``text`` as a mapping expression.

    Raises:
        ExpressionSyntaxError: bad syntax, a refused construct, or an expression that is
            too long, too deep or too big (limits in :mod:`erpbridge.mapping.types`).
    """
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionSyntaxError(
            f"expression is {len(text)} characters long (at most {MAX_EXPRESSION_CHARS})", 0
        )
    if not text.strip():
        raise ExpressionSyntaxError("empty expression", 0)
    if "\x00" in text:
        raise ExpressionSyntaxError("NUL character in expression", text.index("\x00"))
    parsed, origin, marks = _rewrite(text)
    try:
        with warnings.catch_warnings():
            # "\d" in a text literal stays a backslash and a d, as users of regexes expect;
            # Python's warnings about it (and "1if") would only be noise in the log
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(parsed, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, parsed, origin) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExpressionSyntaxError(f"expression cannot be parsed ({exc})", 0) from None
    starts = [0]
    for i, ch in enumerate(parsed):
        if ch == "\n":
            starts.append(i + 1)
    result = ParsedExpression(
        text, tree.body, parsed, tuple(origin), tuple(starts), frozenset(marks)
    )
    _check_tree(result)
    return result


def _rewrite(text: str) -> tuple[str, list[int], list[int]]:
    """Wrap in brackets, mark ``.Field`` line references and rename keyword kwargs."""
    wrapped = "(" + text + "\n)"
    starts = [0]
    for i, ch in enumerate(wrapped):
        if ch == "\n":
            starts.append(i + 1)
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(wrapped).readline)
            if t.type not in _SKIP and t.type != tokenize.ENDMARKER
        ]
    except (tokenize.TokenError, SyntaxError) as exc:
        reason = str(exc.args[0]) if exc.args else "unreadable"
        if "EOF" in reason:
            reason = "a bracket or string is never closed"
        raise ExpressionSyntaxError(f"syntax error: {reason}", len(text)) from None

    def at(tok: tokenize.TokenInfo) -> int:
        return starts[tok.start[0] - 1] + tok.start[1]

    # wrapped index -> (text put before that char, whether it replaces the char)
    inserts: dict[int, tuple[str, bool]] = {}
    depth = 0
    for i, tok in enumerate(tokens):
        pos = at(tok)
        user_pos = max(0, min(pos - 1, len(text)))
        if tok.type == tokenize.COMMENT:
            raise ExpressionSyntaxError("comments (#) are not allowed in expressions", user_pos)
        if tok.type == tokenize.ERRORTOKEN and tok.string.strip():
            hint = ""
            if tok.string[0] in _FULLWIDTH_PUNCTUATION:
                hint = f" (full-width punctuation; use {_FULLWIDTH_PUNCTUATION[tok.string[0]]!r})"
            raise ExpressionSyntaxError(f"unexpected character {tok.string!r}{hint}", user_pos)
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionSyntaxError(f"brackets nested deeper than {MAX_DEPTH}", user_pos)
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
            if depth <= 0 and i != len(tokens) - 1:
                raise ExpressionSyntaxError(f"unmatched {tok.string!r}", user_pos)
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.type == tokenize.OP and tok.string == "." and nxt is not None:
            starts_line_ref = nxt.type == tokenize.NAME or nxt.string == "["
            if starts_line_ref and not _ends_operand(prev):
                # ".Name" -> "_.Name"; ".[k]" -> "_[k]" (the dot itself is replaced)
                inserts[pos] = (LINE_NAME, nxt.string == "[")
        elif (
            tok.type == tokenize.NAME
            and keyword.iskeyword(tok.string)
            and tok.string not in ("True", "False", "None")
            and nxt is not None
            and nxt.string == "="
            and prev is not None
            and prev.string in ("(", ",")
        ):
            inserts[pos + len(tok.string)] = ("_", False)
    out: list[str] = []
    origin: list[int] = []
    marks: list[int] = []
    for i, ch in enumerate(wrapped):
        user_i = max(0, min(i - 1, len(text) - 1))
        edit = inserts.get(i)
        if edit is not None:
            extra, replaces = edit
            if ch == ".":
                marks.append(len(out))
            out.append(extra)
            origin.extend([user_i] * len(extra))
            if replaces:
                continue
        out.append(ch)
        origin.append(user_i)
    return "".join(out), origin, marks


def _ends_operand(tok: tokenize.TokenInfo | None) -> bool:
    if tok is None:
        return False
    if tok.type == tokenize.NAME:
        return not keyword.iskeyword(tok.string) or tok.string in ("True", "False", "None")
    if tok.type in (tokenize.NUMBER, tokenize.STRING):
        return True
    return tok.type == tokenize.OP and tok.string in _OPERAND_END_OPS


def _syntax_error(exc: SyntaxError, parsed: str, origin: list[int]) -> ExpressionSyntaxError:
    lines = parsed.split("\n")
    lineno = max(1, min(exc.lineno or 1, len(lines)))
    index = sum(len(line) + 1 for line in lines[: lineno - 1]) + max(0, (exc.offset or 1) - 1)
    index = min(index, len(origin) - 1)
    message = (exc.msg or "invalid syntax").replace("'('", "bracket")
    if "never closed" in message or "unmatched" in message:
        message = "unbalanced brackets or quotes"
    return ExpressionSyntaxError(f"syntax error: {message}", origin[index])


def _check_tree(parsed: ParsedExpression) -> None:
    """Refuse constructs outside the language, and trees too big or too deep."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(parsed.tree, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionSyntaxError(f"expression has more than {MAX_NODES} parts", 0)
        if depth > MAX_DEPTH:
            raise ExpressionSyntaxError(
                f"expression is nested deeper than {MAX_DEPTH}", parsed.start(node)
            )
        if not isinstance(node, _ALLOWED):
            what = _REFUSED_NAMES.get(type(node), type(node).__name__)
            raise ExpressionSyntaxError(
                f"not allowed in a mapping expression: {what}", parsed.start(node)
            )
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1))
