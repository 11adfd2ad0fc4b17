"""SMS encoding and segment count (GSM 03.38 7-bit or UCS-2), as carriers bill them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table take two septets (an escape, then the character).
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsShape:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    # Characters that forced UCS-2 (e.g. curly quotes); empty for GSM-7.
    non_gsm: str = ""


def sms_shape(text: str) -> SmsShape:
    non_gsm = "".join(sorted({c for c in text if c not in GSM7_BASIC and c not in GSM7_EXTENSION}))
    if not non_gsm:
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        return SmsShape("GSM-7", units, _segments(units, single=160, multi=153))
    units = len(text.encode("utf-16-le")) // 2
    return SmsShape("UCS-2", units, _segments(units, single=70, multi=67), non_gsm)


def _segments(units: int, *, single: int, multi: int) -> int:
    if units <= single:
        return 1
    return -(-units // multi)


def to_gsm7(text: str) -> str:
    """`text` with each letter GSM-7 lacks written without its accent ("á" as "a",
    while "é" and "ñ" stay): a single such letter would make the whole text UCS-2."""
    return "".join(c if c in GSM7_BASIC or c in GSM7_EXTENSION else _base_letter(c) for c in text)


def _base_letter(c: str) -> str:
    base = unicodedata.normalize("NFD", c)[0]
    return base if base in GSM7_BASIC else c
