"""Fraud-scan rules (风控规则): thresholds of the scheduled fraud scan, part of the settings document
(``settings.risk``; docs/risk.md). Every rule can run ``observe`` first
(hits are recorded, no case is opened, nothing is held).

Every threshold is an integer (counts, hours, days, fen); ratios and multiples are basis points
(``3000`` = 30%, ``50000`` = 5×), so no float ever reaches a decision. The defaults are
deliberately conservative and every rule starts in ``observe``: a merchant turns a rule to
``enforce`` once its hits (``RISK_HIT#…``) look right for their shop. What each rule means:
docs/risk.md, "Fraud scan"."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: ``off``: not evaluated; ``observe``: a hit is recorded only; ``enforce``: a hit opens a risk case.
RuleMode = Literal["off", "observe", "enforce"]

#: Rule names, as stored on hits and cases (``rule``).
SHARED_DEVICE = "shared_device"
SELF_DEALING = "self_dealing"
REFUND_RATIO = "refund_ratio"
COMMISSION_SPIKE = "commission_spike"
WITHDRAWAL_BURST = "withdrawal_burst"
RULE_NAMES: tuple[str, ...] = (SHARED_DEVICE, SELF_DEALING, REFUND_RATIO, COMMISSION_SPIKE, WITHDRAWAL_BURST)


def _count(low: int, high: int, description: str) -> object:
    return Field(strict=True, ge=low, le=high, description=description)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    mode: RuleMode = "observe"


class SharedDeviceRule(_Rule):
    """(a) 同设备/同IP批量绑定: many accounts bound to one promoter from one device (or one IP)
    within ``window_hours``. An IP is weak evidence (carrier NAT puts many phones behind one
    address), so its threshold is separate and higher."""

    window_hours: Annotated[int, _count(1, 720, "the sliding window, hours")] = 24
    device_accounts: Annotated[int, _count(2, 10_000, "distinct accounts on one device in the window")] = 3
    ip_accounts: Annotated[int, _count(2, 100_000, "distinct accounts from one IP in the window")] = 10


class SelfDealingRule(_Rule):
    """(b) 自买自卖: a promoter earns on another account's order placed from the promoter's own
    device, with the promoter's phone or to the promoter's address (compared as keyed hashes)."""

    match_device: bool = Field(default=True, strict=True)
    match_phone: bool = Field(default=True, strict=True)
    match_address: bool = Field(default=True, strict=True)
    min_orders: Annotated[int, _count(1, 1000, "matching orders in one China day before a hit")] = 1

    @model_validator(mode="after")
    def _something_to_match(self) -> Self:
        if self.mode != "off" and not (self.match_device or self.match_phone or self.match_address):
            raise ValueError("self_dealing needs at least one of match_device, match_phone, match_address "
                             "(or mode 'off')")
        return self


class RefundRatioRule(_Rule):
    """(c) 高退款率: the share of a promoter's level-1 orders (of the last ``lookback_days``) that
    were refunded is above ``ratio_bp``, once they have at least ``min_orders``."""

    ratio_bp: Annotated[int, _count(1, 10_000, "refunded orders / orders, basis points (3000 = 30%)")] = 3000
    min_orders: Annotated[int, _count(1, 100_000, "orders before the ratio means anything")] = 10
    lookback_days: Annotated[int, _count(1, 90, "orders of the last N days count")] = 30


class CommissionSpikeRule(_Rule):
    """(d) 佣金突增: commission earned in one China day above ``multiple_bp`` × the average of the
    ``trailing_days`` days before it, and at least ``min_day_fen``."""

    multiple_bp: Annotated[int, _count(10_001, 10_000_000, "k in basis points (50000 = 5x)")] = 50_000
    trailing_days: Annotated[int, _count(1, 60, "days of the trailing average")] = 7
    min_day_fen: Annotated[int, _count(0, 10_000_000_000, "a day below this never hits (fen)")] = 50_000


class WithdrawalBurstRule(_Rule):
    """(e) 拉新后集中提现: at least ``withdrawals`` withdrawal requests within
    ``withdrawal_window_hours``, the first of them preceded by at least ``bindings`` new members
    within ``binding_window_hours``."""

    bindings: Annotated[int, _count(2, 100_000, "new members in the binding burst")] = 20
    binding_window_hours: Annotated[int, _count(1, 720, "the binding burst's window, hours")] = 24
    withdrawals: Annotated[int, _count(1, 1000, "withdrawal requests in the withdrawal burst")] = 3
    withdrawal_window_hours: Annotated[int, _count(1, 720, "the withdrawal burst's window, hours")] = 48


class RiskRules(BaseModel):
    """The five rules of the fraud scan (``mall.services.fraud.scan``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    shared_device: SharedDeviceRule = SharedDeviceRule()
    self_dealing: SelfDealingRule = SelfDealingRule()
    refund_ratio: RefundRatioRule = RefundRatioRule()
    commission_spike: CommissionSpikeRule = CommissionSpikeRule()
    withdrawal_burst: WithdrawalBurstRule = WithdrawalBurstRule()

    def mode(self, rule: str) -> RuleMode:
        """The mode of the rule named ``rule`` (one of ``RULE_NAMES``)."""
        found: _Rule = getattr(self, rule)
        return found.mode
