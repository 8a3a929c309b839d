"""The distribution settings document: every error names its field; no third earning level."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mall.domain.settings import COMMISSION_CAP_LIMIT_BP, DistributionSettings


def problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        DistributionSettings.model_validate(document)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


def test_the_defaults_are_valid() -> None:
    settings = DistributionSettings()
    assert settings.commission.cap_bp == COMMISSION_CAP_LIMIT_BP and settings.levels[0].id == "basic"


@pytest.mark.parametrize("document", [
    {"commission": {"l3_rate_bp": 100}},
    {"l3_rate_bp": 100},
    {"commission": {"levels": 3}},
    {"levels": [{"id": "basic", "name": "普通", "l3_points_bp": 100}]},
    {"earning_levels": 3},
])
def test_no_setting_can_describe_a_third_earning_level(document: dict[str, Any]) -> None:
    found = problems(document)
    assert any("Extra inputs are not permitted" in msg for msg in found.values()), found


def test_a_rate_out_of_range_names_its_path() -> None:
    assert "commission.l1_rate_bp" in problems({"commission": {"l1_rate_bp": 3001}})
    assert "commission.cap_bp" in problems({"commission": {"cap_bp": 3500}})


def test_rates_over_the_cap_name_the_field() -> None:
    found = problems({"commission": {"l1_rate_bp": 2000, "l2_rate_bp": 1500}})
    # Every field that adds to the combination is named, each with the whole combination.
    assert list(found) == ["commission.l1_rate_bp", "commission.l2_rate_bp"]
    assert "= 35% > commission.cap_bp 30%" in found["commission.l1_rate_bp"]


def test_level_points_over_the_cap_name_the_level() -> None:
    found = problems({"levels": [{"id": "basic", "name": "普通"},
                                 {"id": "top", "name": "顶级", "l1_points_bp": 1600}]})
    assert set(found) == {"levels.1.l1_points_bp", "commission.l1_rate_bp", "commission.l2_rate_bp"}
    assert "levels[top].l1_points_bp 16%" in found["levels.1.l1_points_bp"]


def test_banned_phrases_in_the_title_and_level_names_are_refused_with_the_phrase() -> None:
    found = problems({"promoter_title": "躺赚官",
                      "levels": [{"id": "a", "name": "普通"}, {"id": "b", "name": "拉人头王"}]})
    assert "躺赚" in found["promoter_title"] and "拉人头" in found["levels.1.name"]
    custom = problems({"banned_phrases": ["暴富"], "promoter_title": "暴富官"})
    assert "暴富" in custom["promoter_title"]


def test_cross_field_rules_of_nested_parts_name_the_nested_field() -> None:
    assert "binding_validity.protection_days" in problems({"binding_validity": {"kind": "protection"}})
    assert "binding_validity.protection_days" in problems({"binding_validity": {"kind": "permanent",
                                                                                "protection_days": 3}})
    assert "promoter_threshold.spent_at_least_fen" in problems({"promoter_threshold": {"kind": "spent_at_least"}})
    assert "promoter_threshold.product_ids" in problems({"promoter_threshold": {"kind": "bought_product"}})


def test_level_ids_are_unique() -> None:
    assert "levels.1.id" in problems({"levels": [{"id": "a", "name": "一"}, {"id": "a", "name": "二"}]})
