"""Identifiers: Chinese phone numbers, 统一社会信用代码 (USCC), e-mail addresses.

``phone``/``uscc``/``email`` normalise and refuse what is invalid (the job goes to the
dead letters with the value named); the ``is_`` forms only answer true or false, for
``when:`` filters and conditionals.
"""

from __future__ import annotations

import re

from erpbridge.mapping.functions._base import (
    Example,
    FunctionError,
    FunctionSpec,
    Impl,
    Param,
    brief,
)
from erpbridge.mapping.functions.strings import halfwidth, text_of
from erpbridge.spi.schema import FieldType

__all__ = ["FUNCTIONS", "is_valid_uscc", "normalize_phone", "uscc_check_char"]

# GB 32100-2015: 18 characters from this alphabet (no I, O, S, V, Z); the last is a
# check character over the first 17 with these weights.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}\Z")
_MOBILE = re.compile(r"1[3-9]\d{9}\Z")
_LANDLINE = re.compile(r"0\d{9,11}\Z")
_INTL = re.compile(r"\+[1-9]\d{6,14}\Z")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\Z")
_PHONE_NOISE = re.compile(r"[\s\-().]")


def uscc_check_char(first17: str) -> str:
    """The check character of a USCC's first 17 characters."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True for an 18-character USCC with the right alphabet, shape and check character."""
    return bool(_USCC_SHAPE.match(code)) and uscc_check_char(code[:17]) == code[17]


def _clean_uscc(value: object) -> str:
    return halfwidth(text_of(value)).strip().replace(" ", "").upper()


def normalize_phone(value: object, fmt: str = "national") -> str | None:
    """A Chinese mobile or landline (or +international) number, or None if invalid."""
    text = _PHONE_NOISE.sub("", halfwidth(text_of(value)))
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif len(text) == 13 and text.startswith("86"):
        text = text[2:]
    elif text.startswith("+"):
        return text if _INTL.match(text) else None
    if _MOBILE.match(text):
        return "+86" + text if fmt == "e164" else text
    if len(text) > 1 and not text.startswith("0"):
        text = "0" + text if _LANDLINE.match("0" + text) and len(text) in (9, 10, 11) else text
    if _LANDLINE.match(text):
        if fmt == "e164":
            return "+86" + text[1:]
        area = 3 if text[1] in "12" else 4  # 010 and 02x are three digits
        return f"{text[:area]}-{text[area:]}"
    return None


def _build_phone(format: object) -> Impl:  # the keyword users write
    if format not in ("national", "e164"):
        raise ValueError('format must be "national" or "e164"')
    fmt = str(format)

    def phone(value: object) -> str:
        result = normalize_phone(value, fmt)
        if result is None:
            raise FunctionError(f"{brief(value)} is not a valid phone number")
        return result

    return phone


def _build_uscc() -> Impl:
    def uscc(value: object) -> str:
        code = _clean_uscc(value)
        if not is_valid_uscc(code):
            raise FunctionError(f"{brief(value)} is not a valid 统一社会信用代码")
        return code

    return uscc


def _build_email() -> Impl:
    def email(value: object) -> str:
        text = halfwidth(text_of(value)).strip()
        if not _EMAIL.match(text):
            raise FunctionError(f"{brief(value)} is not a valid e-mail address")
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"

    return email


_S = FieldType.STRING
_B = FieldType.BOOLEAN
_V = Param("value")

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("phone", "ids",
                 "A Chinese mobile or landline number, normalised; invalid numbers are errors.",
                 (_V, Param("format", "national", const=True)), _S, _build_phone,
                 (Example('phone("+86 138-1234-5678")', '"13812345678"'),
                  Example('phone("138 1234 5678", format="e164")', '"+8613812345678"'),
                  Example('phone("(021) 6888 1234")', '"021-68881234"'),
                  Example('phone("０７５５－８６０１２３４５")', '"0755-86012345"'))),
    FunctionSpec("is_phone", "ids", "True when the value is a valid phone number.",
                 (_V,), _B, lambda: lambda v: normalize_phone(v) is not None,
                 (Example('is_phone("12345")', "false"),)),
    FunctionSpec("uscc", "ids",
                 "A 统一社会信用代码 (GB 32100-2015), upper-cased, half-width, check digit verified.",  # noqa: E501
                 (_V,), _S, _build_uscc,
                 (Example('uscc("91350100m000100y43")', '"91350100M000100Y43"'),)),
    FunctionSpec("is_uscc", "ids", "True when the value is a valid 统一社会信用代码.",
                 (_V,), _B, lambda: lambda v: is_valid_uscc(_clean_uscc(v)),
                 (Example('is_uscc("91350100M000100Y44")', "false"),)),
    FunctionSpec("email", "ids", "An e-mail address, trimmed, domain lower-cased; invalid: error.",
                 (_V,), _S, _build_email,
                 (Example('email(" Li.Lei@Example.COM ")', '"Li.Lei@example.com"'),)),
    FunctionSpec("is_email", "ids", "True when the value looks like an e-mail address.",
                 (_V,), _B, lambda: lambda v: bool(_EMAIL.match(halfwidth(text_of(v)).strip())),
                 (Example('is_email("not-an-address")', "false"),)),
)  # fmt: skip
