"""Money: units (元/角/分/万元, minor units), currencies, scale and rounding, 大写 amounts.

Amounts are Decimal all the way. ``money(v, from=A, to=B)`` reads ``v`` as an amount in
unit A and gives it in unit B; a unit is a currency (``CNY``: its major unit), a Chinese
unit of the yuan (元 角 分 万元), or ``minor``/``major`` of the ``from`` currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from erpbridge.mapping.functions._base import (
    Example,
    FunctionError,
    FunctionSpec,
    Impl,
    Param,
    brief,
)
from erpbridge.mapping.functions.numbers import exponent, quantize, rounding_mode, to_decimal
from erpbridge.spi.schema import FieldType

__all__ = ["CURRENCY_EXPONENTS", "FUNCTIONS", "amount_in_words"]

#: ISO 4217 minor-unit exponents of the currencies our customers trade in.
CURRENCY_EXPONENTS: Mapping[str, int] = {
    "CNY": 2, "HKD": 2, "MOP": 2, "TWD": 2, "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2,
    "CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2, "MYR": 2, "THB": 2, "IDR": 2, "PHP": 2,
    "INR": 2, "RUB": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "SEK": 2, "NOK": 2, "DKK": 2,
    "PLN": 2, "CZK": 2, "HUF": 2, "TRY": 2, "AED": 2, "SAR": 2, "ILS": 2, "KZT": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0,
    "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}  # fmt: skip

# Chinese units of the yuan: factor to 1 元.
_CN_UNITS: Mapping[str, Decimal] = {
    "元": Decimal(1),
    "yuan": Decimal(1),
    "角": Decimal("0.1"),
    "jiao": Decimal("0.1"),
    "分": Decimal("0.01"),
    "fen": Decimal("0.01"),
    "千元": Decimal(1000),
    "万元": Decimal(10000),
    "亿元": Decimal(100000000),
}

#: names people write for a currency -> ISO code (for ``currency()``).
_CURRENCY_NAMES: Mapping[str, str] = {
    "RMB": "CNY", "人民币": "CNY", "元": "CNY", "¥": "CNY", "￥": "CNY", "CNH": "CNY",
    "$": "USD", "US$": "USD", "美元": "USD", "美金": "USD", "€": "EUR", "欧元": "EUR",
    "£": "GBP", "英镑": "GBP", "日元": "JPY", "円": "JPY", "港币": "HKD", "港元": "HKD",
    "HK$": "HKD", "新台币": "TWD", "澳门元": "MOP", "韩元": "KRW", "新加坡元": "SGD",
}  # fmt: skip


def _unit(name: object, currency: str | None) -> tuple[str, Decimal, bool]:
    """(currency, factor to its major unit, is the minor unit) for a unit name."""
    text = str(name)
    if text in _CN_UNITS:
        return "CNY", _CN_UNITS[text], text in ("分", "fen")
    if text in ("minor", "major"):
        if currency is None:
            raise ValueError(f'to="{text}" needs a currency in from=')
        exponent = CURRENCY_EXPONENTS[currency]
        return (
            currency,
            (Decimal(1).scaleb(-exponent) if text == "minor" else Decimal(1)),
            (text == "minor"),
        )
    code = text.upper()
    if code not in CURRENCY_EXPONENTS:
        raise ValueError(
            f"unknown currency or unit {text!r}; a 3-letter ISO code (CNY, USD …), "
            "元, 角, 分, 千元, 万元, 亿元, minor or major"
        )
    return code, Decimal(1), False


def _build_money(from_: object, to: object, scale: object, rounding: object) -> Impl:
    cur_from, f_from, _ = _unit(from_, None)
    cur_to, f_to, to_minor = _unit(from_ if to is None else to, cur_from)
    mode = rounding_mode(rounding)
    if scale is None:
        places = 0 if to_minor else CURRENCY_EXPONENTS[cur_to]
    elif isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= 18:
        raise ValueError(f"scale must be a whole number from 0 to 18, not {scale!r}")
    else:
        places = scale
    if to_minor and places != 0:
        raise ValueError("a minor unit (分, minor) is a whole number: scale must be 0")
    factor = f_from / f_to
    same = cur_from == cur_to
    exp = exponent(places)
    scaled = factor != 1

    def money(value: object, rate: object = None) -> object:
        amount = value if type(value) is Decimal else to_decimal(value)
        if rate is not None:
            amount *= to_decimal(rate)
        elif not same:
            raise FunctionError(f"converting {cur_from} to {cur_to} needs rate=", 1)
        if scaled:
            amount *= factor
        try:
            result = amount.quantize(exp, rounding=mode)
        except ArithmeticError:
            raise FunctionError(
                f"{brief(value)} is too large for {places} decimal places"
            ) from None
        return int(result) if to_minor else result

    return money


def _money_kind(consts: Mapping[str, object]) -> FieldType:
    to = str(consts.get("to"))
    return FieldType.INTEGER if to in ("分", "fen", "minor") else FieldType.DECIMAL


def _build_currency() -> Impl:
    def currency(value: object) -> str:
        text = str(value).strip()
        code = _CURRENCY_NAMES.get(text) or _CURRENCY_NAMES.get(text.upper()) or text.upper()
        if code not in CURRENCY_EXPONENTS:
            raise FunctionError(f"{brief(value)} is not a known currency")
        return code

    return currency


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL = ("", "拾", "佰", "仟")
_BIG = ("", "万", "亿", "万亿")


def _words_4(group: int) -> str:
    out, zero = "", False
    for pos in range(3, -1, -1):
        digit = group // 10**pos % 10
        if digit == 0:
            zero = bool(out)
        else:
            out += ("零" if zero else "") + _DIGITS[digit] + _SMALL[pos]
            zero = False
    return out


def amount_in_words(amount: Decimal) -> str:
    """人民币大写 for an amount in 元, as printed on Chinese invoices and cheques.

    ``Decimal("1004.50")`` -> ``壹仟零肆元伍角``; whole amounts end in 整.
    """
    fen_total = int(quantize(amount, 2, rounding_mode("half_up")) * 100)
    sign = "负" if fen_total < 0 else ""
    fen_total = abs(fen_total)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    if yuan >= 10**16:
        raise FunctionError(f"{brief(amount)} is too large to write in words")
    words, groups, i, gap = "", [], 0, False
    while yuan:
        groups.append((yuan % 10000, i))
        yuan //= 10000
        i += 1
    for group, index in reversed(groups):
        if group == 0:
            gap = bool(words)
            continue
        if words and (gap or group < 1000):
            words += "零"
        words += _words_4(group) + _BIG[index]
        gap = False
    text = words + "元" if words else ""
    if jiao == 0 and fen == 0:
        return sign + (text or "零元") + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif text:
        text += "零"
    if fen:
        text += _DIGITS[fen] + "分"
    return sign + text


def _build_amount_cn() -> Impl:
    def amount_cn(value: object) -> str:
        return amount_in_words(to_decimal(value))

    return amount_cn


_R = Param("rounding", "half_up", const=True)
_AMOUNT = frozenset(
    {FieldType.INTEGER, FieldType.DECIMAL, FieldType.STRING, FieldType.TEXT, FieldType.UNKNOWN}
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "money",
        "money",
        "Convert an amount between units (元/角/分/万元, minor units) with scale and rounding.",
        (
            Param("value", kinds=_AMOUNT),
            Param("from", "CNY", const=True),
            Param("to", None, const=True),
            Param("scale", None, const=True),
            _R,
            Param("rate", None),
        ),
        _money_kind,
        _build_money,
        (
            Example('money("1,234.5", from="CNY", scale=2)', "1234.50"),
            Example('money("¥12.345")', "12.35"),
            Example('money(12.34, from="元", to="分")', "1234"),
            Example('money(1234, from="分", to="元")', "12.34"),
            Example('money(35, from="万元", to="元")', "350000.00"),
            Example('money(10.5, from="USD", to="minor")', "1050"),
            Example('money(100, from="USD", to="CNY", rate="7.1")', "710.00"),
            Example('money("2.345", rounding="half_even")', "2.34"),
        ),
        notes=(
            "`scale` defaults to the target currency's decimals (CNY 2, JPY 0, KWD 3) and "
            "to 0 for minor units, which come back as whole numbers. Converting between "
            "two currencies needs `rate=` (an expression, e.g. a field of the record)."
        ),
    ),
    FunctionSpec(
        "currency",
        "money",
        "Normalise a currency name or symbol to its ISO 4217 code.",
        (Param("value"),),
        FieldType.STRING,
        _build_currency,
        (
            Example('currency("人民币")', '"CNY"'),
            Example('currency("usd")', '"USD"'),
            Example('currency("￥")', '"CNY"'),
        ),
    ),
    FunctionSpec(
        "amount_cn",
        "money",
        "An amount in 元 written in Chinese capital numerals (人民币大写).",
        (Param("value", kinds=_AMOUNT),),
        FieldType.STRING,
        _build_amount_cn,
        (
            Example("amount_cn(1004.5)", '"壹仟零肆元伍角"'),
            Example("amount_cn(100000)", '"壹拾万元整"'),
            Example('amount_cn("0.05")', '"伍分"'),
        ),
    ),
)
