"""The commission basis of an order (佣金依据快照), fixed when its payment is recorded. Pure.

Everything the commission of an order depends on that can change later is read once, in the
payment notification's own path, and stored with the payment (docs/commission-snapshot.md):

- who earns: the L1 / L2 promoter ids, decided from the buyer's binding as it is at payment (in
  ``first_payment`` mode, from the share source of the buyer's first paid order);
- how much they earn: each of those promoters' status, level and overrides, the settings version in
  force (versions are immutable, so the number is enough) and the rates of the lines' categories.
  The product's own setting is on the order line since placing.

The commission worker and the referral worker both read this basis, so neither depends on what the
other did first (a level upgrade this order triggers applies from the next order), and a worker that
runs days later pays what it would have paid at once.

``first_payment`` mode (首单绑定): an unbound buyer's order is attributed at payment, never at
placing. The buyer's first paid order (``first_paid_order_id`` on the profile, claimed in the
payment transaction) *claims* the binding for its share source's promoter; the binding itself is
written by the first worker that handles the order (its cycle checks need more reads than the
payment path has), and its outcome is recorded once on the basis. The claiming order earns for that
promoter only if the binding succeeded. An order of the same buyer paid while that binding is not
yet written *follows* the first order: it earns for the same promoter when the binding succeeded,
for nobody otherwise. Once the buyer is bound, every order goes to the bound chain whatever its
share source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from mall.clock import parse_instant
from mall.domain.campaigns import Campaign, in_force
from mall.domain.catalog import Category
from mall.domain.referral import Attribution, Promoter, attribute
from mall.domain.settings_terms import BindingMode

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

#: How the basis relates to a ``first_payment`` binding: ``none`` (attribution is final),
#: ``claims`` (this is the buyer's first paid order; it earns only if its share source binds the
#: buyer) or ``follows`` (paid while the first order's binding was pending: it follows that outcome).
BindingLink = Literal["none", "claims", "follows"]
BindingOutcome = Literal["bound", "refused"]
AttributionBasis = Literal["binding", "share_first_payment", "self_purchase", "none"]
_BASES = ("binding", "share_first_payment", "self_purchase", "none")

FIRST_PAYMENT_RULE = ("尚未绑定的客户，以其第一笔支付成功的订单所带的分享来源绑定推广员，"
                      "佣金在订单支付时确定：该订单及此后的订单都归属绑定的推广员；"
                      "同时下单但后支付的其他分享来源的订单，不归属其分享者；"
                      "若首单的分享者无法绑定（如状态异常），这些订单都不产生佣金。")
#: Rates and levels are those of the payment (``decide_basis`` / ``build_snapshot``); an upgrade the
#: order triggers is counted after it and applies from the next order.
FIXED_AT_PAYMENT_RULE = ("每笔订单的佣金归属、佣金比例和推广员等级以订单支付成功时为准，之后的调整不影响已支付的订单；"
                         "因该订单达到升级条件而提升的等级，从下一笔订单起生效。")


@dataclass(frozen=True, slots=True)
class PromoterState:
    """What commission reads of a promoter, as it was at payment (fits ``Beneficiary``)."""

    user_id: str
    status: str
    level_id: str | None
    l1_override_bp: int | None = None
    l2_override_bp: int | None = None
    #: when the promoter was approved (a campaign for new promoters reads it); None on older bases
    activated_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @classmethod
    def of(cls, promoter: Promoter) -> PromoterState:
        return cls(promoter.user_id, promoter.status, promoter.level_id, promoter.l1_override_bp,
                   promoter.l2_override_bp, promoter.activated_at)

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "status": self.status, "level_id": self.level_id,
                "l1_override_bp": self.l1_override_bp, "l2_override_bp": self.l2_override_bp,
                **({"activated_at": self.activated_at.isoformat()} if self.activated_at else {})}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PromoterState:
        def bp(value: Any) -> int | None:
            return None if value is None else int(value)

        activated = raw.get("activated_at")
        return cls(str(raw["user_id"]), str(raw.get("status", "")), raw.get("level_id") or None,
                   bp(raw.get("l1_override_bp")), bp(raw.get("l2_override_bp")),
                   parse_instant(str(activated)) if activated else None)


@dataclass(frozen=True, slots=True)
class PaymentSnapshot:
    """The commission basis of one order (stored as its own item next to the order)."""

    order_id: str
    buyer_id: str
    taken_at: datetime
    settings_version: int
    basis: AttributionBasis
    self_purchase: bool
    l1_promoter_id: str | None
    l2_promoter_id: str | None
    promoters: dict[str, PromoterState] = field(default_factory=dict)
    #: category id → its rates at payment; None when the category no longer existed
    categories: dict[str, dict[str, int | None] | None] = field(default_factory=dict)
    binding: BindingLink = "none"
    sharer_id: str | None = None  # claims / follows: the promoter the first paid order binds to
    first_order_id: str | None = None  # follows: the buyer's first paid order
    binding_outcome: BindingOutcome | None = None
    #: the commission campaigns in force at payment (``mall.domain.campaigns``), as they were then
    campaigns: tuple[Campaign, ...] = ()

    @property
    def attribution(self) -> Attribution:
        return Attribution(self.l1_promoter_id, self.l2_promoter_id, self.settings_version,
                           self.basis, self.self_purchase)

    def category_objects(self) -> dict[str, Category]:
        return {cid: Category(category_id=cid, name="", l1_rate_bp=rates.get("l1_rate_bp"),
                              l2_rate_bp=rates.get("l2_rate_bp"))
                for cid, rates in self.categories.items() if rates is not None}

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id, "buyer_id": self.buyer_id, "taken_at": self.taken_at.isoformat(),
            "settings_version": self.settings_version, "basis": self.basis, "self_purchase": self.self_purchase,
            "l1_promoter_id": self.l1_promoter_id, "l2_promoter_id": self.l2_promoter_id,
            "promoters": {uid: p.as_dict() for uid, p in self.promoters.items()},
            "categories": {cid: (dict(rates) if rates is not None else None)
                           for cid, rates in self.categories.items()},
            "binding": self.binding, "sharer_id": self.sharer_id, "first_order_id": self.first_order_id,
            "binding_outcome": self.binding_outcome,
            **({"campaigns": [c.as_dict() for c in self.campaigns]} if self.campaigns else {}),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PaymentSnapshot:
        def rates(value: Any) -> dict[str, int | None] | None:
            if not isinstance(value, Mapping):
                return None
            return {k: (None if value.get(k) is None else int(value[k])) for k in ("l1_rate_bp", "l2_rate_bp")}

        binding = str(raw.get("binding") or "none")
        outcome = raw.get("binding_outcome")
        basis = str(raw.get("basis", "none"))
        return cls(
            order_id=str(raw["order_id"]), buyer_id=str(raw["buyer_id"]),
            taken_at=parse_instant(str(raw["taken_at"])),
            settings_version=int(raw.get("settings_version", 0)),
            basis=cast(AttributionBasis, basis if basis in _BASES else "none"),
            self_purchase=bool(raw.get("self_purchase", False)),
            l1_promoter_id=raw.get("l1_promoter_id") or None, l2_promoter_id=raw.get("l2_promoter_id") or None,
            promoters={str(uid): PromoterState.from_dict(p) for uid, p in (raw.get("promoters") or {}).items()},
            categories={str(cid): rates(r) for cid, r in (raw.get("categories") or {}).items()},
            binding=cast(BindingLink, binding if binding in ("none", "claims", "follows") else "none"),
            sharer_id=raw.get("sharer_id") or None, first_order_id=raw.get("first_order_id") or None,
            binding_outcome=cast(BindingOutcome, outcome) if outcome in ("bound", "refused") else None,
            campaigns=tuple(Campaign.from_dict(c) for c in raw.get("campaigns") or ()),
        )

    @property
    def waits_for_binding(self) -> bool:
        return self.binding != "none" and self.binding_outcome is None

    def earning(self, outcome: BindingOutcome | None = None) -> tuple[str | None, str | None]:
        """The L1 / L2 promoter ids that earn on the order: the recorded attribution, except that an
        order tied to a ``first_payment`` binding earns only if that binding was made."""
        if self.binding == "none":
            return self.l1_promoter_id, self.l2_promoter_id
        if (outcome or self.binding_outcome) == "bound":
            return self.l1_promoter_id, self.l2_promoter_id
        return None, None


@dataclass(frozen=True, slots=True)
class PaymentFactsRead:
    """What the payment path read to decide the basis (consistent reads just before its transaction)."""

    order_id: str
    buyer_id: str
    settings_version: int
    settings: DistributionSettings
    placement: Mapping[str, Any]  # the attribution stored when the order was placed
    buyer_parent: str | None  # the buyer's binding
    parent_of: dict[str, str | None]  # promoter → their parent, for the promoters involved
    promoters: dict[str, Promoter]  # every promoter involved (buyer, parent, grandparent, sharer...)
    first_paid_order_id: str | None  # on the buyer's profile before this payment
    first_payment_sharer_id: str | None  # on the profile: whom the first paid order claims
    share_sharer_id: str | None  # the promoter behind this order's share source
    categories: dict[str, Category | None]
    campaigns: tuple[Campaign, ...] = ()  # the book of campaigns, read with the settings


@dataclass(frozen=True, slots=True)
class BasisDecision:
    attribution: Attribution
    binding: BindingLink = "none"
    sharer_id: str | None = None
    first_order_id: str | None = None
    #: this order becomes the buyer's first paid order and claims a binding for ``sharer_id``
    claims_first_payment: bool = False


def _earner(uid: str | None, promoters: Mapping[str, Promoter]) -> str | None:
    promoter = promoters.get(uid) if uid is not None else None
    return uid if promoter is not None and promoter.is_active else None


def decide_basis(facts: PaymentFactsRead) -> BasisDecision:  # noqa: PLR0911 (one return per case)
    """Who earns on the order, decided at its payment (module doc)."""
    settings, version, buyer = facts.settings, facts.settings_version, facts.buyer_id
    placed = facts.placement
    if placed.get("self_purchase") and placed.get("basis") == "self_purchase" and not placed.get("l1_promoter_id"):
        # Priced with the self-purchase discount: the buyer already had the would-be commission.
        return BasisDecision(Attribution(None, None, version, "self_purchase", self_purchase=True))
    bound = attribute(buyer_id=buyer, buyer_parent=facts.buyer_parent, parent_of=facts.parent_of,
                      promoters=facts.promoters, sharer=None, sharer_bindable=False, settings=settings,
                      settings_version=version)
    if (bound.self_purchase or bound.basis != "none" or facts.buyer_parent is not None
            or settings.binding_mode != BindingMode.FIRST_PAYMENT):
        return BasisDecision(bound)
    nobody = Attribution(None, None, version, "none")
    if facts.first_paid_order_id is None or facts.first_paid_order_id == facts.order_id:
        sharer = facts.share_sharer_id
        if sharer is None or sharer == buyer:
            return BasisDecision(nobody)
        l1 = _earner(sharer, facts.promoters)
        if l1 is None:  # an inactive sharer cannot be bound: nobody earns, nobody is claimed
            return BasisDecision(nobody)
        attribution = Attribution(l1, _earner(facts.parent_of.get(sharer), facts.promoters), version,
                                  "share_first_payment")
        return BasisDecision(attribution, "claims", sharer_id=sharer, claims_first_payment=True)
    claimed = facts.first_payment_sharer_id
    if claimed is None or claimed == buyer:
        return BasisDecision(nobody)
    attribution = Attribution(_earner(claimed, facts.promoters),
                              _earner(facts.parent_of.get(claimed), facts.promoters), version, "share_first_payment")
    return BasisDecision(attribution, "follows", sharer_id=claimed, first_order_id=facts.first_paid_order_id)


def build_snapshot(facts: PaymentFactsRead, decision: BasisDecision, *, taken_at: datetime) -> PaymentSnapshot:
    a = decision.attribution
    involved = [uid for uid in (a.l1_promoter_id, a.l2_promoter_id) if uid is not None]
    return PaymentSnapshot(
        order_id=facts.order_id, buyer_id=facts.buyer_id, taken_at=taken_at, settings_version=a.settings_version,
        basis=a.basis, self_purchase=a.self_purchase, l1_promoter_id=a.l1_promoter_id,
        l2_promoter_id=a.l2_promoter_id,
        promoters={uid: PromoterState.of(facts.promoters[uid]) for uid in involved if uid in facts.promoters},
        categories={cid: ({"l1_rate_bp": c.l1_rate_bp, "l2_rate_bp": c.l2_rate_bp} if c is not None else None)
                    for cid, c in sorted(facts.categories.items())},
        binding=decision.binding, sharer_id=decision.sharer_id, first_order_id=decision.first_order_id,
        campaigns=tuple(in_force(facts.campaigns, taken_at)) if a.l1_promoter_id or a.l2_promoter_id else (),
    )
