"""Materials center (素材中心): the merchant's copywriting, poster backgrounds and poster templates,
each for one product or general. Pure: what a material may contain, how a promoter's own share
link and code are filled into a text, where a template's boxes may lie, and the deterministic key
of a poster drawn on a template.

- A **text** (推广文案) is what a promoter copies; ``{share_link}``, ``{code}`` and ``{nickname}``
  are replaced by the promoter's own share link, code and nickname when the promoter lists it.
- A **background** (海报背景) is an image the merchant uploaded and the server verified
  (``mall.domain.media``): the server never fetches an address anybody typed.
- A **template** (海报模板) is a background plus a layout: the boxes of the promoter's QR code,
  the promoter's nickname (text only, no avatar), the product's title and its price on the
  750 × 1334 poster canvas of ``mall.domain.posters``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from mall.domain.posters import POSTER_HEIGHT, POSTER_WIDTH, Box, _digest, _key_part
from mall.errors import FieldProblem

MaterialKind = Literal["text", "background", "template"]
KINDS: tuple[MaterialKind, ...] = ("text", "background", "template")

#: What a promoter may ask to have filled into a text, and what it becomes.
PLACEHOLDERS: dict[str, str] = {
    "share_link": "the promoter's share link (what their QR code opens)",
    "code": "the promoter's invitation code",
    "nickname": "the promoter's nickname (empty when they have none)",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

TEXT_MAX_CHARS = 500
TITLE_MAX_CHARS = 40
#: A QR code smaller than this is hard to scan from a phone screen; larger ones crowd the poster.
QR_MIN_SIDE = 160
QR_MAX_SIDE = 400
#: A text box must hold at least one line of the smallest text size.
TEXT_MIN_WIDTH = 80
TEXT_MIN_HEIGHT = 24
#: The QR code is drawn on a white square this many px wider on each side (a quiet zone on any
#: background, so the code decodes).
QR_MARGIN = 8
#: Bump when the template drawing changes: every template poster key changes, so they are redrawn.
TEMPLATE_DRAWING_VERSION = 1


@dataclass(frozen=True)
class TemplateLayout:
    """Where the template puts the promoter's QR, their nickname, the product's title and price."""

    qr: Box
    title: Box
    price: Box
    nickname: Box | None = None
    text_color: str = "#222222"

    def text_boxes(self) -> dict[str, Box]:
        boxes = {"title": self.title, "price": self.price}
        if self.nickname is not None:
            boxes["nickname"] = self.nickname
        return boxes


@dataclass(frozen=True)
class Material:
    material_id: str
    kind: MaterialKind
    title: str
    product_id: str | None = None  # None: general (通用素材), offered with every product
    text: str | None = None  # a text's copy
    image_key: str | None = None  # a background's verified upload; a template's background image
    background_id: str | None = None  # a template's background material
    layout: TemplateLayout | None = None
    enabled: bool = True
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str | None = field(default=None, compare=False)


def placeholders_in(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def placeholder_problems(field_name: str, text: str | None) -> list[FieldProblem]:
    """A problem per ``{...}`` that is not one of ``PLACEHOLDERS`` (a typo would reach promoters as is)."""
    if not text:
        return []
    unknown = [name for name in placeholders_in(text) if name not in PLACEHOLDERS]
    if not unknown:
        return []
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    return [FieldProblem(field_name, f"unknown placeholder {{{unknown[0]}}}; allowed: {allowed}")]


def fill_placeholders(text: str, *, share_link: str, code: str, nickname: str | None) -> str:
    """``text`` with each known placeholder replaced by the promoter's own value; anything else stays."""
    values = {"share_link": share_link, "code": code, "nickname": nickname or ""}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _overlaps(a: Box, b: Box) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


def layout_problems(layout: TemplateLayout, *, prefix: str = "layout") -> list[FieldProblem]:
    """Why a layout cannot be drawn: a box outside the 750 × 1334 canvas, a QR code that is not a
    square of ``QR_MIN_SIDE``–``QR_MAX_SIDE`` px, a text box too small for one line, or a text box
    over the QR code (text on the code would stop it from decoding)."""
    problems: list[FieldProblem] = []
    boxes: dict[str, Box] = {"qr": layout.qr, **layout.text_boxes()}
    for name, box in boxes.items():
        if box.x < 0 or box.y < 0 or box.right > POSTER_WIDTH or box.bottom > POSTER_HEIGHT:
            problems.append(FieldProblem(f"{prefix}.{name}",
                                         f"must lie within the {POSTER_WIDTH}×{POSTER_HEIGHT} poster"))
    qr = layout.qr
    if qr.width != qr.height:
        problems.append(FieldProblem(f"{prefix}.qr", "must be a square (width = height)"))
    elif not QR_MIN_SIDE <= qr.width <= QR_MAX_SIDE:
        problems.append(FieldProblem(f"{prefix}.qr", f"each side must be {QR_MIN_SIDE}–{QR_MAX_SIDE} px"))
    padded = Box(qr.x - QR_MARGIN, qr.y - QR_MARGIN, qr.width + 2 * QR_MARGIN, qr.height + 2 * QR_MARGIN)
    for name, box in layout.text_boxes().items():
        if box.width < TEXT_MIN_WIDTH or box.height < TEXT_MIN_HEIGHT:
            problems.append(FieldProblem(f"{prefix}.{name}",
                                         f"must be at least {TEXT_MIN_WIDTH}×{TEXT_MIN_HEIGHT} px"))
        elif _overlaps(box, padded):
            problems.append(FieldProblem(f"{prefix}.{name}", "must not overlap the QR code"))
    return problems


def text_sizes(box: Box) -> tuple[int, ...]:
    """Font sizes (px) tried for a text box, largest first: as large as one line of the box allows."""
    top = max(16, min(64, int(box.height / 1.35)))
    return tuple(s for s in (64, 56, 48, 40, 36, 32, 28, 24, 20, 16) if s <= top) or (16,)


def max_lines(box: Box, size: int) -> int:
    return max(1, int(box.height // int(size * 1.35)))


def template_poster_key(*, user_id: str, code: str, product_id: str, template_id: str, fingerprint: str) -> str:
    """Where a promoter's poster on a template is kept: one object per (promoter, template, product,
    and the versions of everything drawn on it, in ``fingerprint``), so a repeat is not redrawn."""
    return (f"posters/{_key_part(user_id)}/{_key_part(product_id)}/"
            f"{_key_part(code)}-{_key_part(template_id)}-{fingerprint}.png")


def template_poster_fingerprint(*, template_id: str, template_version: int, image_key: str, product_name: str,
                                price_fen: int, product_version: object, nickname: str | None,
                                qr_key: str) -> str:
    return _digest(TEMPLATE_DRAWING_VERSION, template_id, template_version, image_key, product_name, price_fen,
                   product_version, nickname, qr_key)
