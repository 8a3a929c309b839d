"""The materials center's pure rules: placeholders filled with the promoter's own values, unknown
ones refused, and a template's boxes inside the poster, the QR square and never under text."""

from __future__ import annotations

import pytest

from mall.domain.materials import (
    QR_MARGIN,
    TemplateLayout,
    fill_placeholders,
    layout_problems,
    max_lines,
    placeholder_problems,
    template_poster_key,
    text_sizes,
)
from mall.domain.posters import Box

GOOD = TemplateLayout(qr=Box(470, 1054, 240, 240), title=Box(40, 900, 670, 96), price=Box(40, 1000, 400, 64),
                      nickname=Box(40, 1100, 400, 48))


def test_placeholders_become_the_promoters_own_values() -> None:
    text = "好茶推荐 {share_link} 邀请码{code} —— {nickname}"
    filled = fill_placeholders(text, share_link="pages/index/index?scene=ALICE001", code="ALICE001",
                               nickname="小李")
    assert filled == "好茶推荐 pages/index/index?scene=ALICE001 邀请码ALICE001 —— 小李"
    assert fill_placeholders("{nickname}推荐", share_link="x", code="y", nickname=None) == "推荐"
    assert fill_placeholders("没有占位符", share_link="x", code="y", nickname="z") == "没有占位符"


def test_an_unknown_placeholder_is_refused_naming_the_field() -> None:
    assert placeholder_problems("text", "看这里 {share_link}") == []
    problems = placeholder_problems("text", "看这里 {sharelink}")
    assert [p.field for p in problems] == ["text"] and "{sharelink}" in problems[0].reason


def test_a_layout_inside_the_poster_passes() -> None:
    assert layout_problems(GOOD) == []
    assert layout_problems(TemplateLayout(qr=Box(0, 0, 160, 160), title=Box(200, 0, 550, 24),
                                          price=Box(0, 1310, 80, 24))) == []


@pytest.mark.parametrize(("layout", "field", "words"), [
    (TemplateLayout(qr=Box(600, 1054, 240, 240), title=GOOD.title, price=GOOD.price), "layout.qr", "within"),
    (TemplateLayout(qr=GOOD.qr, title=Box(40, 1320, 670, 96), price=GOOD.price), "layout.title", "within"),
    (TemplateLayout(qr=Box(470, 1054, 240, 200), title=GOOD.title, price=GOOD.price), "layout.qr", "square"),
    (TemplateLayout(qr=Box(470, 1054, 100, 100), title=GOOD.title, price=GOOD.price), "layout.qr", "160"),
    (TemplateLayout(qr=GOOD.qr, title=GOOD.title, price=Box(40, 1000, 60, 64)), "layout.price", "at least"),
    (TemplateLayout(qr=GOOD.qr, title=GOOD.title, price=GOOD.price, nickname=Box(400, 1100, 200, 48)),
     "layout.nickname", "overlap"),
    # The white quiet zone around the code counts: text touching it would be drawn over.
    (TemplateLayout(qr=GOOD.qr, title=GOOD.title, price=Box(40, 1054, 470 - 40 - QR_MARGIN + 1, 64)),
     "layout.price", "overlap"),
])
def test_a_layout_that_cannot_be_drawn_is_refused(layout: TemplateLayout, field: str, words: str) -> None:
    problems = layout_problems(layout)
    assert [p.field for p in problems] == [field] and words in problems[0].reason


def test_text_sizes_fit_their_box() -> None:
    box = Box(0, 0, 400, 48)
    assert all(int(s * 1.35) <= 48 for s in text_sizes(box)) and text_sizes(box)[0] == 32
    assert max_lines(Box(0, 0, 670, 96), 32) == 2


def test_a_template_poster_key_is_per_promoter_template_product_and_fingerprint() -> None:
    one = template_poster_key(user_id="u_1", code="ALICE001", product_id="p_1", template_id="mat_1", fingerprint="f")
    assert one == "posters/u_1/p_1/ALICE001-mat_1-f.png"
    assert one != template_poster_key(user_id="u_1", code="ALICE001", product_id="p_1", template_id="mat_2",
                                      fingerprint="f")
