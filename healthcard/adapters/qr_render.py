"""Rendering QR texts with ``segno``: SVG, PNG and terminal.

Every code is a full QR code (never Micro QR) at error correction M, without
segno's "boost" to a higher level, so the version depends only on the text: a
signed token (at most 178 alphanumeric characters) is at most version 7, which
older phone cameras and kiosk scanners still read at arm's length.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Final

import segno

ERROR_LEVEL: Final = "M"


def make(text: str) -> Any:
    """The ``segno.QRCode`` of ``text`` (alphanumeric mode when the text allows it)."""
    return segno.make_qr(text, error=ERROR_LEVEL, boost_error=False)


def qr_version(text: str) -> int:
    """The QR version (1..40) ``text`` needs at error correction M."""
    return int(make(text).version)


def svg(text: str, *, scale: int = 4, border: int = 4) -> str:
    """An SVG document (UTF-8 text)."""
    out = io.BytesIO()
    make(text).save(out, kind="svg", scale=scale, border=border)
    return out.getvalue().decode("utf-8")


def png(text: str, *, scale: int = 8, border: int = 4) -> bytes:
    """PNG bytes; the default scale gives about 8 pixels per module."""
    out = io.BytesIO()
    make(text).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def terminal(text: str, *, border: int = 2) -> str:
    """The code drawn with Unicode half blocks, two modules per character cell."""
    out = io.StringIO()
    make(text).terminal(out=out, border=border, compact=True)
    return out.getvalue()


def save(text: str, path: str | Path, *, scale: int = 8, border: int = 4) -> Path:
    """Write ``path`` as PNG or SVG according to its suffix."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".png":
        target.write_bytes(png(text, scale=scale, border=border))
    elif suffix == ".svg":
        target.write_text(svg(text, scale=scale, border=border), encoding="utf-8")
    else:
        raise ValueError("QR files are .png or .svg")
    return target
