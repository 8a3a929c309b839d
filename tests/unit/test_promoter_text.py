"""Promoter-facing text: a banned phrase is refused in every spelling a reader still reads as the
phrase, single-line fields refuse control and bidi characters, and the rules page masks with the
same normaliser."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mall.domain.notifications import STORED_DOCUMENT
from mall.domain.posters import check_copy
from mall.domain.promoter_text import banned_phrase_in, mask_banned, normalise, single_line_problem
from mall.domain.rules_disclosure import all_texts, render
from mall.domain.settings import DEFAULT_BANNED_PHRASES, DistributionSettings
from mall.errors import InvalidInput

DODGES = {
    "zero-width space": ("躺\u200b赚每月过万", "躺赚"),
    "traditional character": ("躺賺每月过万", "躺赚"),
    "traditional phrase": ("無限代", "无限代"),
    "punctuation between": ("躺.赚", "躺赚"),
    "space and symbols between": ("躺 ★ 赚", "躺赚"),
    "reversed under a bidi override": ("\u202e代限无", "无限代"),
    "soft hyphen": ("拉\u00ad人头", "拉人头"),
    "full-width and mixed": ("發展 下綫", "发展下线"),
    "word joiner and bidi isolate": ("三\u2060级\u2066分销\u2069", "三级分销"),
}


@pytest.mark.parametrize("what", sorted(DODGES))
def test_every_dodge_is_found(what: str) -> None:
    text, phrase = DODGES[what]
    assert banned_phrase_in(text, DEFAULT_BANNED_PHRASES) == phrase


@pytest.mark.parametrize("text", ["推广员", "普通会员", "每月过万", "天天好心情", "代理", "限时优惠", "Tea Lover 2"])
def test_ordinary_text_passes(text: str) -> None:
    assert banned_phrase_in(text, DEFAULT_BANNED_PHRASES) is None


def test_merchant_phrases_are_normalised_the_same_way() -> None:
    assert banned_phrase_in("快速 暴．富", ("暴富",)) == "暴富"
    assert banned_phrase_in("快速暴富", ("暴 富",)) == "暴 富"
    assert normalise("ＶＩＰ会員") == "vip会员"


@pytest.mark.parametrize(("text", "bad"), [
    ("a\x00b", True), ("two\nlines", True), ("cr\rhere", True), ("tab\tbed", True), ("\u2028sep", True),
    ("\u202eevil", True), ("\u2066iso\u2069", True), ("plain 文字, ok!", False),
])
def test_single_line_fields_refuse_controls_breaks_and_bidi(text: str, bad: bool) -> None:
    assert (single_line_problem(text) is not None) is bad


def test_poster_copy_refuses_every_dodge_and_multi_line_slogans() -> None:
    for text, _ in DODGES.values():
        with pytest.raises(InvalidInput) as refused:
            check_copy({"slogan": text}, DEFAULT_BANNED_PHRASES, single_line=("slogan",))
        assert refused.value.code == "banned_phrase" and refused.value.fields[0].field == "slogan"
    with pytest.raises(InvalidInput) as refused:
        check_copy({"slogan": "好茶\n好价"}, DEFAULT_BANNED_PHRASES, single_line=("slogan",))
    assert refused.value.code == "invalid_text" and refused.value.fields[0].field == "slogan"


def settings_problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        DistributionSettings.model_validate(document)
    found: dict[str, str] = {}
    for error in caught.value.errors():
        where = ".".join(str(p) for p in error["loc"])
        found[where] = f"{found.get(where, '')} {error['msg']}".strip()
    return found


@pytest.mark.parametrize("what", sorted(DODGES))
def test_settings_names_refuse_every_dodge(what: str) -> None:
    text, phrase = DODGES[what]
    found = settings_problems({"promoter_title": text[:10], "levels": [{"id": "a", "name": text[:10]}]})
    assert phrase in found["promoter_title"] and phrase in found["levels.0.name"]


def test_settings_names_are_one_line() -> None:
    found = settings_problems({"promoter_title": "推广\n员", "levels": [{"id": "a", "name": "普\x00通"}],
                               "notifications": {"commission_settled": {"enabled": False, "fields": {
                                   "thing1": "text:结算\u202e完成"}}}})
    assert "line break" in found["promoter_title"] and "control character" in found["levels.0.name"]
    assert "bidi" in " ".join(v for k, v in found.items() if k.startswith("notifications"))


def test_a_document_saved_under_an_older_rule_still_loads() -> None:
    stored = {"promoter_title": "躺.赚官", "levels": [{"id": "a", "name": "普\n通"}]}
    settings = DistributionSettings.model_validate(stored, context=STORED_DOCUMENT)
    assert settings.promoter_title == "躺.赚官"


def test_the_rules_page_masks_every_dodge_with_the_same_normaliser() -> None:
    assert mask_banned("月入躺.赚过万", DEFAULT_BANNED_PHRASES) == "月入***过万"
    assert mask_banned("無限代好", DEFAULT_BANNED_PHRASES) == "***好"
    assert mask_banned("躺\u200b赚", DEFAULT_BANNED_PHRASES) == "**"
    stored = DistributionSettings.model_validate({"promoter_title": "躺.賺官"}, context=STORED_DOCUMENT)
    texts = all_texts(render(stored, version=1, effective_at=None))
    assert not [t for t in texts if banned_phrase_in(t, DEFAULT_BANNED_PHRASES)]
    assert "***官" in texts


def test_the_rules_page_states_the_wording_rule_with_the_phrase_count() -> None:
    settings = DistributionSettings.model_validate({"banned_phrases": ["暴富", "躺赚"]})
    promoter = next(s for s in render(settings, version=1, effective_at=None).sections if s.key == "promoter")
    wording = next(i for i in promoter.items if i.key == "wording")
    assert wording.value == len(DEFAULT_BANNED_PHRASES) + 1 and "繁体" in wording.text and "一行" in wording.text
