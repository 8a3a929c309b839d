"""Rules disclosure (规则公示): the rules in force, from the live settings (one GetItem)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from mall.clock import iso
from mall.dal.campaigns import CampaignRepository
from mall.dal.settings import SettingsRepository
from mall.domain import rules_disclosure
from mall.domain.rules_disclosure_campaigns import campaigns_section
from mall.schemas.rules import (
    EarningLevelView,
    LevelRuleView,
    RuleItemView,
    RulesDisclosure,
    RuleSectionView,
)


def current_rules(*, settings: SettingsRepository) -> RulesDisclosure:
    current = settings.current()
    return to_view(rules_disclosure.render(current.settings, version=current.version, effective_at=current.saved_at))


def rules_with_campaigns(*, settings: SettingsRepository, campaigns: CampaignRepository,
                         now: datetime) -> tuple[RulesDisclosure, int]:
    """The rules in force with the commission campaigns in force or upcoming (one more GetItem),
    and the campaigns' book version (the page changes with it)."""
    current = settings.current()
    book = campaigns.read()
    disclosure = rules_disclosure.render(current.settings, version=current.version, effective_at=current.saved_at)
    section = campaigns_section(book.campaigns, current.settings, now=now)
    clean = rules_disclosure.cleaner(current.settings)
    disclosure = replace(disclosure, sections=[*disclosure.sections, *rules_disclosure.cleaned([section], clean)])
    return to_view(disclosure), book.version


def to_view(d: rules_disclosure.Disclosure) -> RulesDisclosure:
    return RulesDisclosure(
        version=d.version, effective_at=iso(d.effective_at) if d.effective_at else None, title=d.title,
        promoter_title=d.promoter_title,
        earning_levels=[EarningLevelView(level=e.level, name=e.name, rate_bp=e.rate_bp,  # type: ignore[arg-type]
                                         rate_text=e.rate_text) for e in d.earning_levels],
        levels=[LevelRuleView(id=r.id, name=r.name, l1_points_bp=r.l1_points_bp, l2_points_bp=r.l2_points_bp,
                              l1_rate_bp=r.l1_rate_bp, l2_rate_bp=r.l2_rate_bp, text=r.text) for r in d.levels],
        sections=[RuleSectionView(key=s.key, title=s.title, items=[
            RuleItemView(key=i.key, label=i.label, text=i.text, value=i.value, unit=i.unit) for i in s.items])
            for s in d.sections],
    )
