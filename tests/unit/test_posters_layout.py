"""The pure part of posters: prices, text fitting, banned phrases, layout and storage keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mall.domain.posters import (
    ELLIPSIS,
    LAYOUT,
    check_copy,
    fit_text,
    format_price,
    poster_fingerprint,
    poster_object_key,
    qr_object_key,
)
from mall.domain.settings import DistributionSettings
from mall.errors import InvalidInput


def mono(text: str, size: int) -> int:
    """A fake font: every character is ``size`` px wide (CJK-like)."""
    return len(text) * size


@pytest.mark.parametrize(("fen", "text"), [
    (0, "¥0.00"), (1, "¥0.01"), (99, "¥0.99"), (100, "¥1.00"), (12990, "¥129.90"), (100000, "¥1,000.00"),
    (123456789, "¥1,234,567.89"),
])
def test_price_is_written_from_integer_fen(fen: int, text: str) -> None:
    assert format_price(fen) == text


@given(st.integers(min_value=0, max_value=10**12))
def test_price_round_trips_without_floats(fen: int) -> None:
    text = format_price(fen)
    yuan, _, cents = text[1:].replace(",", "").partition(".")
    assert int(yuan) * 100 + int(cents) == fen


def test_negative_price_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_price(-1)


def test_short_text_takes_the_largest_size_on_one_line() -> None:
    fitted = fit_text("好茶", width=400, max_lines=2, sizes=(40, 32), measure=mono)
    assert fitted.size == 40 and fitted.lines == ("好茶",) and not fitted.truncated


def test_text_wraps_then_shrinks_before_it_is_cut() -> None:
    text = "一" * 15  # 600 px at 40: two lines of 10 at 40 px
    assert fit_text(text, width=400, max_lines=2, sizes=(40, 32), measure=mono).size == 40
    longer = "一" * 24  # 3 lines at 40 (10 per line), 2 lines at 32 (12 per line)
    fitted = fit_text(longer, width=400, max_lines=2, sizes=(40, 32), measure=mono)
    assert fitted.size == 32 and [len(line) for line in fitted.lines] == [12, 12]


def test_text_too_long_at_the_smallest_size_ends_with_an_ellipsis_inside_the_box() -> None:
    fitted = fit_text("一" * 100, width=400, max_lines=2, sizes=(40, 32), measure=mono)
    assert fitted.truncated and fitted.size == 32 and len(fitted.lines) == 2
    assert fitted.lines[-1].endswith(ELLIPSIS)
    assert all(mono(line, 32) <= 400 for line in fitted.lines)


def test_latin_words_move_whole_to_the_next_line() -> None:
    def narrow(text: str, size: int) -> int:
        return len(text) * size // 2

    fitted = fit_text("Premium aged tea", width=200, max_lines=3, sizes=(40,), measure=narrow)
    assert fitted.lines == ("Premium", "aged tea")


@given(st.text(alphabet="普洱茶 abcXYZ123，", min_size=1, max_size=80))
def test_fitted_lines_never_overflow(text: str) -> None:
    fitted = fit_text(text, width=300, max_lines=2, sizes=(36, 28), measure=mono)
    assert len(fitted.lines) <= 2
    assert all(mono(line, fitted.size) <= 300 for line in fitted.lines if len(line) > 1)


def test_banned_phrase_in_any_copy_is_refused_naming_the_field() -> None:
    phrases = DistributionSettings(banned_phrases=["包赚"]).all_banned_phrases()
    check_copy({"slogan": "好物推荐", "product_id": "云南普洱"}, phrases)
    with pytest.raises(InvalidInput) as refused:
        check_copy({"slogan": "躺 赚 每一天", "product_id": "云南普洱"}, phrases)
    assert refused.value.code == "banned_phrase"
    assert [f.field for f in refused.value.fields] == ["slogan"]
    with pytest.raises(InvalidInput) as merchant_phrase:
        check_copy({"slogan": None, "product_id": "包赚的茶"}, phrases)
    assert merchant_phrase.value.fields[0].field == "product_id"


def test_layout_boxes_fit_the_canvas_and_do_not_overlap() -> None:
    boxes = LAYOUT.boxes()
    for name, box in boxes.items():
        assert box.x >= 0 and box.right <= LAYOUT.width, name
        assert box.y >= 0 and box.bottom <= LAYOUT.height, name
    items = list(boxes.items())
    for i, (a_name, a) in enumerate(items):
        for b_name, b in items[i + 1:]:
            overlap = a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom
            assert not overlap, f"{a_name} overlaps {b_name}"
    assert LAYOUT.qr.width >= 200, "a QR smaller than this is hard to scan from a saved image"


def test_qr_key_is_deterministic_per_code_page_width_and_version() -> None:
    key = qr_object_key(code="P7K2M9QX", page="pages/index/index", width=430, env_version="release")
    assert key == qr_object_key(code="P7K2M9QX", page="pages/index/index", width=430, env_version="release")
    assert key.startswith("qr/P7K2M9QX/")
    others = {
        qr_object_key(code="P7K2M9QY", page="pages/index/index", width=430, env_version="release"),
        qr_object_key(code="P7K2M9QX", page="pages/goods/detail", width=430, env_version="release"),
        qr_object_key(code="P7K2M9QX", page="pages/index/index", width=600, env_version="release"),
        qr_object_key(code="P7K2M9QX", page="pages/index/index", width=430, env_version="trial"),
    }
    assert key not in others and len(others) == 4


def test_a_scene_with_path_characters_never_escapes_its_prefix() -> None:
    key = qr_object_key(code="../a/b?c", page="pages/index/index", width=430, env_version="release")
    assert key.count("/") == 2 and ".." not in key


def test_poster_key_changes_with_anything_drawn_on_it() -> None:
    base = {"product_name": "普洱", "price_fen": 12990, "image": "https://img.example/1.jpg",
            "product_version": (3, None), "slogan": None, "qr_key": "qr/A/x", "logo": "bundled"}
    fingerprint = poster_fingerprint(**base)  # type: ignore[arg-type]
    assert fingerprint == poster_fingerprint(**base)  # type: ignore[arg-type]
    for field, value in [("product_name", "普洱茶"), ("price_fen", 12900), ("image", None),
                         ("product_version", (4, None)), ("slogan", "好茶"), ("qr_key", "qr/B/x"), ("logo", "x")]:
        assert poster_fingerprint(**{**base, field: value}) != fingerprint, field  # type: ignore[arg-type]
    key = poster_object_key(user_id="u_1", code="A", product_id="p_1", fingerprint=fingerprint)
    assert key == f"posters/u_1/p_1/A-{fingerprint}.png"
