"""The simulator's shop (catalog, promoter chains, settings) and the model it keeps of what it did:
orders, refunds and withdrawals as last read back, and the operations it draws (``Op``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mall.domain.catalog import Category
from mall.domain.settings import BindingMode, DistributionSettings, WithdrawalRules
from mall.schemas.withdrawals import BankAccountIn
from mall.services import commissions as commission_service
from mall.services import settlement as settlement_service
from tests.integration.sim.ops_bonus import bonus_rules
from tests.integration.sim.ops_extra import level_settings
from tests.integration.sim.world import Notification

# ---- the shop ------------------------------------------------------------------------------------

GLOBAL_BP = (1000, 500)
CATEGORIES = (Category("c_plain", "日用"), Category("c_rated", "精选", l1_rate_bp=1500, l2_rate_bp=500))


@dataclass(frozen=True)
class ProductSpec:
    product_id: str
    category_id: str
    price_fen: int
    mode: str  # inherit | ratio | fixed
    l1: int
    l2: int
    enabled: bool = True
    shipping_fen: int = 0
    kind: str = "physical"  # physical | service (its line is due after 核销)

    def fallback_bp(self) -> tuple[int, int]:
        """The rate an ``inherit`` product falls back to: its category's, else the global one."""
        category = next(c for c in CATEGORIES if c.category_id == self.category_id)
        return (category.l1_rate_bp if category.l1_rate_bp is not None else GLOBAL_BP[0],
                category.l2_rate_bp if category.l2_rate_bp is not None else GLOBAL_BP[1])

    def fallback(self) -> tuple[tuple[int, int], str]:
        """``fallback_bp`` and where it comes from (the rule snapshot's ``source``)."""
        category = next(c for c in CATEGORIES if c.category_id == self.category_id)
        return self.fallback_bp(), "category" if category.l1_rate_bp is not None else "global"


PRODUCTS = (
    ProductSpec("p_tea", "c_plain", 12_800, "inherit", 0, 0, shipping_fen=800),  # global 10% / 5%
    ProductSpec("p_book", "c_rated", 5_990, "inherit", 0, 0),  # category 15% / 5%
    ProductSpec("p_pot", "c_plain", 39_900, "ratio", 2000, 800),  # product 20% / 8%
    ProductSpec("p_cup", "c_rated", 1_999, "fixed", 300, 120, shipping_fen=500),  # fen per unit
    ProductSpec("p_gift", "c_plain", 8_800, "ratio", 1500, 500, enabled=False),  # not in distribution
    ProductSpec("p_pin", "c_plain", 7, "ratio", 1000, 500),  # floors to 0 fen: no record
    ProductSpec("p_spa", "c_rated", 19_900, "ratio", 1200, 400, kind="service"),  # 核销 completes its line
)
SPEC = {p.product_id: p for p in PRODUCTS}

#: Promoter chains (parent first): ``a3`` has three promoters above it, so a customer of ``a3`` has
#: four: only ``a3`` (L1) and ``a2`` (L2) may earn on their orders.
CHAINS = (("a0", "a1", "a2", "a3"), ("b0", "b1"), ("c0",))
ADMINS = ("admin:ann", "admin:bob")
BANK = BankAccountIn(bank_name="招商银行", account_name="王小二", account_no="6225880012345678")
ORDER_TERMINAL = frozenset({"EXPIRED", "CLOSED"})
WITHDRAWAL_TERMINAL = frozenset({"PAID", "FAILED", "REJECTED"})
REFUND_TERMINAL = frozenset({"SUCCEEDED", "CLOSED", "REJECTED"})
#: Exceptions a caller retries (queue redelivery, the next scheduled run): not failures.
RETRYABLE = (commission_service.SyncIncomplete, settlement_service.SettlementStuck)


def sim_settings(first_payment: bool = False) -> DistributionSettings:
    return DistributionSettings(
        binding_mode=BindingMode.INVITE_CODE, promoter_review="auto", levels=level_settings(first_payment),
        team_bonus=bonus_rules(),
        withdrawal=WithdrawalRules(min_fen=100, max_fen=199_999, daily_count=1000, daily_amount_fen=50_000_000,
                                   methods=["wechat", "bank"]))


# ---- the model -----------------------------------------------------------------------------------


@dataclass
class MLine:
    line_id: str
    spec: ProductSpec
    quantity: int
    paid_fen: int  # the catalog amount less ``coupon_fen``, the oracle's own spread of the order's coupon
    coupon_fen: int = 0


@dataclass
class MOrder:
    index: int
    order_id: str
    buyer: str
    lines: list[MLine]
    amount_fen: int
    expected: tuple[str | None, str | None]  # (L1, L2) from the bindings the simulator made, once paid
    expires_at: datetime
    prepaid: bool
    status: str = "CREATED"  # as last read back
    paid_at_sandbox: bool = False
    payment: Notification | None = None
    payment_pending: bool = False
    refunds: list[str] = field(default_factory=list)
    expected_at_placing: tuple[str | None, str | None] | None = None  # what an unpaid order keeps
    recorded: bool = False  # its payment was recorded (read back)
    recorded_at: datetime | None = None
    levels: tuple[int, int] = (0, 0)  # the (L1, L2) earners' levels when its payment was recorded
    verified_at: datetime | None = None  # 核销 of its service lines
    sharer: str | None = None  # the promoter of its share source (first_payment)
    paid_at: datetime | None = None  # when the customer paid at WeChat Pay (its success_time)
    coupon_id: str | None = None


@dataclass
class MRefund:
    refund_id: str
    order: int
    lines: dict[str, int]  # line_id → fen, as the simulator asked (or computed for "everything")
    amount_fen: int
    status: str = "REQUESTED"
    note: Notification | None = None
    pending: bool = False
    requested_at: datetime | None = None
    ended_at: datetime | None = None  # when the model read it back ended (rejected, closed, succeeded)
    open_at_settle: bool = False  # open on a completed order while a settlement ran


@dataclass
class MWithdrawal:
    withdrawal_id: str
    promoter: str
    method: str
    amount_fen: int
    status: str
    out_bill_no: str = ""
    required_approvals: int = 1
    approvals: int = 0
    note: Notification | None = None
    pending: bool = False


@dataclass
class Result:
    kind: str  # ok | refused | retry | error
    value: Any = None
    code: str = ""
    error: str = ""


@dataclass
class Op:
    name: str
    calls: list[Callable[[], Any]]
    apply: Callable[[list[Result]], None] = lambda results: None
    keys: frozenset[str] = frozenset()
    exclusive: bool = False
    #: "read": may record a payment (its earners' levels are read); "write": may change a level.
    #: The planner never puts both in one wave.
    levels: str = ""


class SimulationFailed(AssertionError):
    pass
