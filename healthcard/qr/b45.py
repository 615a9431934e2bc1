"""Base45 (RFC 9285): the ``base45`` package encodes; a strict, fast decoder decodes.

Why base45: its 45 characters are exactly the QR code's alphanumeric set, so a
token rendered from base45 text uses alphanumeric mode (5.5 bits per character,
8.25 bits per byte), about as dense as byte mode while staying plain text.

Why our own decoder: ``base45.b45decode`` strips a trailing newline (so two
different texts decode to the same bytes) and loops per character in Python. The
verifier must refuse every altered text and should cost little beside the
signature check. This decoder accepts exactly the texts ``b45encode`` produces
(canonical: RFC 9285 section 4.2 rejects chunks above 65535 / 255) and does the
arithmetic on whole-token big integers; the tests check it against the package.
"""

from __future__ import annotations

from typing import Final

import base45

ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID: Final = 0xFF
_TABLE: Final = bytes(
    ALPHABET.index(chr(c)) if chr(c) in ALPHABET else _INVALID for c in range(256)
)


def b45encode(data: bytes) -> str:
    """Encode bytes as base45 text (RFC 9285)."""
    return str(base45.b45encode(data).decode("ascii"))


def b45decode(text: str) -> bytes:
    """Decode canonical base45 text; any other text raises ``ValueError``.

    How: each 3-character chunk ``c d e`` is the 16-bit value ``c + 45 d + 2025 e``.
    The three digit columns are spread into 32-bit slots of three big integers and
    combined with one multiply-add, so the per-chunk arithmetic runs in C; a chunk
    above 65535 shows up as a non-zero upper half of its slot.
    """
    try:
        digits = text.encode("ascii").translate(_TABLE)
    except (UnicodeEncodeError, AttributeError):
        raise ValueError("not base45 text") from None
    if _INVALID in digits:
        raise ValueError("not base45 text")
    size = len(digits)
    tail = size % 3
    if tail == 1:
        raise ValueError("base45 text length must not be 1 more than a multiple of 3")
    chunks = size // 3
    full = 3 * chunks
    slots = bytearray(4 * chunks)
    slots[3::4] = digits[0:full:3]
    low = int.from_bytes(slots)
    slots[3::4] = digits[1:full:3]
    mid = int.from_bytes(slots)
    slots[3::4] = digits[2:full:3]
    high = int.from_bytes(slots)
    words = (low + 45 * mid + 2025 * high).to_bytes(4 * chunks)
    if words[1::4].count(0) != chunks:  # byte 0 of a slot is always 0 (max 91124)
        raise ValueError("base45 chunk above 65535")
    out = bytearray(2 * chunks + (tail == 2))
    out[0 : 2 * chunks : 2] = words[2::4]
    out[1 : 2 * chunks : 2] = words[3::4]
    if tail == 2:
        value = digits[-2] + 45 * digits[-1]
        if value > 0xFF:
            raise ValueError("base45 final chunk above 255")
        out[-1] = value
    return bytes(out)
