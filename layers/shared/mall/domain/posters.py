"""Promoter QR codes and product posters (推广码、商品海报): the pure part.

Where everything goes on a poster, how text is fitted into its box, how a price in fen is
written, which words may not appear, and the deterministic storage keys that make a repeat
request reuse the stored image. No Pillow and no I/O here: text is measured through a
function the renderer passes in, so layout is testable without fonts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mall.domain.money import yuan
from mall.domain.promoter_text import banned_phrase_in, single_line_problem
from mall.errors import FieldProblem, InvalidInput

#: Bump when the layout or the drawing changes: every poster key changes, so posters are redrawn.
LAYOUT_VERSION = 1

POSTER_WIDTH = 750
POSTER_HEIGHT = 1334
MARGIN = 40

#: What the poster says under the price when the promoter gives no slogan of their own.
DEFAULT_CAPTION = "长按识别小程序码"
SLOGAN_MAX_CHARS = 24
ELLIPSIS = "…"

#: ``(text, font size in px) -> rendered width in px``.
Measure = Callable[[str, int], int]


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def xy(self) -> tuple[int, int]:
        return self.x, self.y

    def size(self) -> tuple[int, int]:
        return self.width, self.height


@dataclass(frozen=True)
class PosterLayout:
    """Boxes on a 750 × 1334 canvas (a 2x phone screen, what WeChat users save and share)."""

    width: int = POSTER_WIDTH
    height: int = POSTER_HEIGHT
    logo: Box = Box(MARGIN, 32, 88, 88)
    image: Box = Box(MARGIN, 144, POSTER_WIDTH - 2 * MARGIN, POSTER_WIDTH - 2 * MARGIN)  # square
    name: Box = Box(MARGIN, 844, POSTER_WIDTH - 2 * MARGIN, 112)
    name_sizes: tuple[int, ...] = (40, 36, 32, 28)
    name_max_lines: int = 2
    price: Box = Box(MARGIN, 968, 420, 72)
    price_size: int = 56
    qr: Box = Box(POSTER_WIDTH - MARGIN - 240, 1054, 240, 240)
    caption: Box = Box(MARGIN, 1110, 410, 120)
    caption_sizes: tuple[int, ...] = (30, 28, 26, 24)
    caption_max_lines: int = 2

    def boxes(self) -> dict[str, Box]:
        return {"logo": self.logo, "image": self.image, "name": self.name, "price": self.price, "qr": self.qr,
                "caption": self.caption}


LAYOUT = PosterLayout()


@dataclass(frozen=True)
class FittedText:
    size: int
    lines: tuple[str, ...]
    truncated: bool = False


def format_price(price_fen: int) -> str:
    """``12990`` → ``¥129.90``; ``100000`` → ``¥1,000.00``. Integer arithmetic only."""
    if price_fen < 0:
        raise ValueError("a price is never negative")
    return yuan(price_fen)


def _wrap(text: str, *, width: int, size: int, measure: Measure) -> list[str]:
    """Greedy line breaking: Chinese may break between any two characters; a Latin word moves
    whole to the next line when it can (and is cut only when it is wider than a line)."""
    lines: list[str] = []
    line = ""
    for char in text:
        if char == "\n":
            lines.append(line.rstrip())
            line = ""
            continue
        candidate = line + char
        if not line or measure(candidate, size) <= width:
            line = candidate
            continue
        head, space, tail = line.rpartition(" ")
        if char != " " and space and head and _is_latin(tail + char):
            lines.append(head)
            line = tail + char
        else:
            lines.append(line.rstrip())
            line = "" if char == " " else char
    if line.strip():
        lines.append(line.rstrip())
    return [ln for ln in lines if ln] or [""]


def _is_latin(word: str) -> bool:
    return all(ord(c) < 0x2E80 for c in word)


def fit_text(text: str, *, width: int, max_lines: int, sizes: Sequence[int], measure: Measure) -> FittedText:
    """The largest of ``sizes`` at which ``text`` fits in ``max_lines`` of ``width`` px; at the
    smallest size the text is cut after the last line with an ellipsis."""
    clean = " ".join(text.split())
    if not sizes:
        raise ValueError("sizes must not be empty")
    for size in sorted(sizes, reverse=True):
        lines = _wrap(clean, width=width, size=size, measure=measure)
        if len(lines) <= max_lines:
            return FittedText(size=size, lines=tuple(lines))
    size = min(sizes)
    lines = _wrap(clean, width=width, size=size, measure=measure)[:max_lines]
    last = lines[-1]
    while last and measure(last + ELLIPSIS, size) > width:
        last = last[:-1]
    lines[-1] = last.rstrip() + ELLIPSIS
    return FittedText(size=size, lines=tuple(lines), truncated=True)


def check_copy(texts: dict[str, str | None], phrases: tuple[str, ...], *, single_line: tuple[str, ...] = ()) -> None:
    """Refuse poster copy that contains a banned phrase (pyramid-scheme vocabulary, docs/business-rules.md) in any
    spelling a reader still reads as the phrase (mall.domain.promoter_text), naming the field it was
    found in (``InvalidInput`` → 422 ``banned_phrase``); the fields in ``single_line`` (what the
    promoter typed) must also be one line of plain text (422 ``invalid_text``)."""
    problems = []
    for field, text in texts.items():
        if text is None:
            continue
        found = banned_phrase_in(text, phrases)
        if found is not None:
            problems.append(FieldProblem(field, f"contains the banned phrase {found!r}"))
    if problems:
        raise InvalidInput("the poster text contains a banned phrase", code="banned_phrase", fields=problems)
    for field in single_line:
        text = texts.get(field)
        line = single_line_problem(text) if text else None
        if line is not None:
            problems.append(FieldProblem(field, line))
    if problems:
        raise InvalidInput("the poster text is not one line of plain text", code="invalid_text", fields=problems)


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


_KEY_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _key_part(value: str) -> str:
    """``value`` when it is safe in a path; else a hash of it (a scene may contain ``/`` or ``?``)."""
    return value if _KEY_SAFE.match(value) else "h" + _digest(value)


def qr_object_key(*, code: str, page: str, width: int, env_version: str) -> str:
    """Where the promoter's QR image is kept: one object per (code, page, width, env version)."""
    return f"qr/{_key_part(code)}/{_digest(page, width, env_version)}"


def poster_object_key(*, user_id: str, code: str, product_id: str, fingerprint: str) -> str:
    """Where a poster is kept. ``fingerprint`` covers everything drawn on it, so a changed product
    (name, price, image, version), slogan, QR or logo gives a new key and a redrawn poster."""
    return f"posters/{_key_part(user_id)}/{_key_part(product_id)}/{_key_part(code)}-{fingerprint}.png"


def poster_fingerprint(*, product_name: str, price_fen: int, image: str | None, product_version: object,
                       slogan: str | None, qr_key: str, logo: str) -> str:
    return _digest(LAYOUT_VERSION, product_name, price_fen, image, product_version, slogan, qr_key, logo)
