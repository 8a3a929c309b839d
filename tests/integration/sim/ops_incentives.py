"""The simulator's coupons (优惠券) and commission campaigns (佣金活动), and the oracle of what they do
to each order line (mixed into ``simulator.Simulator``; docs/coupons.md, docs/incentives.md).

**Coupons.** The merchant's templates (amount off; percent off with a ceiling; a minimum spend; all
products, a category or some products; a validity window or days after claiming; total and
per-user quantities; what a refund does) are created through ``mall.services.coupons``; customers
claim them (``claim``, the model predicting sold out and per-user refusals) and name them at
``POST /orders`` (``place_order``, as the route calls it). The model keeps each coupon's holder,
validity (its own China-day arithmetic) and status: used by an order; given back when that order
expires unpaid, or when a refund closes it (全额退款) while the coupon is valid and its template
says ``return_if_full_refund``; then usable again.

**Campaigns.** Created through ``mall.services.campaigns`` (and sometimes ended early) with windows
written in China time without an offset, some only on weekends, scoped by product, category,
promoter (a targeted high-commission product), level or new promoters, boosting by points or a
multiplier. Only exclusive waves create or end one, so the campaigns in force when a payment is
recorded are the model's at that wave's time.

**The oracle** (``line_expectation``), from the documents, not from ``mall.domain``: the line's paid
amount is its catalog amount less its share of the coupon (largest remainder, re-implemented here
with exact fractions); per level the rate is the promoter's override, else the product's own
setting, else its category's rate, else the global one, plus the earner's level points; of the
campaigns in force at payment whose scope takes the line and the earner, the one that pays the
most (ties: the smallest id) adds its points or multiplies the rate once; L1 + L2 is clamped to
the cap (L2 first).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.coupons import CouponRepository
from mall.schemas.campaigns import CampaignRequest
from mall.schemas.coupons import CouponTemplateIn
from mall.services import campaigns as campaign_service
from mall.services import coupons as coupon_service
from mall.services.referral import ReferralRepositories
from mall.services.referral.promoters import SetOverride, set_override
from tests.integration.sim.oracle import BASIS, CAP_LIMIT_BP

if TYPE_CHECKING:
    from tests.integration.sim.model import MLine, MOrder, Op, ProductSpec
    from tests.integration.sim.simulator import Simulator

#: China time as the documents define it (UTC+8, no daylight saving): the oracle's own, not mall.clock.
CHINA_TIME = timezone(timedelta(hours=8))
ADMIN = "admin:sim"
#: One promoter has their own rates (专属佣金比例); the save-time checks leave room for the campaigns below.
OVERRIDE = ("b0", 1200, 600)


# ---- coupons -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    kind: str  # amount | percent
    off: int  # fen (amount) or bp (percent)
    max_off: int | None = None
    min_spend: int = 0
    scope: str = "all"
    scope_ids: tuple[str, ...] = ()
    valid_days: int | None = None
    window_days: tuple[int, int] | None = None  # (from, to) days after the run's start
    total: int = 100_000
    per_user: int = 3
    on_refund: str = "return_if_full_refund"


TEMPLATES = (
    TemplateSpec("满50减5", "amount", 500, min_spend=5_000, valid_days=20),
    TemplateSpec("精选85折", "percent", 1_500, max_off=3_000, scope="categories", scope_ids=("c_rated",),
                 window_days=(0, 40), per_user=2, on_refund="never"),
    TemplateSpec("杯茶6折", "percent", 4_000, max_off=1_500, scope="products", scope_ids=("p_cup", "p_tea"),
                 valid_days=10, per_user=2),
    TemplateSpec("壶立减10元", "amount", 1_000, min_spend=20_000, scope="products", scope_ids=("p_pot",),
                 valid_days=1, total=6, per_user=1),
    # Half off a ``fixed`` product: its fen per unit then want more than the cap of what was paid (clamped).
    TemplateSpec("杯子4折", "percent", 6_000, max_off=5_000, scope="products", scope_ids=("p_cup",),
                 valid_days=30, per_user=3),
)

#: The coupon of every product (spread over several lines) and the 60%-off coupon of a ``fixed`` product
#: (the clamp bites) are claimed most.
CLAIM_WEIGHTS = (2, 1, 1, 1, 3)


@dataclass
class MCoupon:
    coupon_id: str
    owner: str
    spec: TemplateSpec
    template_id: str
    valid_from: datetime
    valid_until: datetime
    status: str = "unused"  # unused | used
    order_id: str | None = None
    used_by: list[str] = field(default_factory=list)


def coupon_validity(spec: TemplateSpec, claimed_at: datetime, start: datetime) -> tuple[datetime, datetime]:
    """docs/coupons.md: ``valid_days`` N: through the end of the N-th China day after the claim day."""
    if spec.valid_days is not None:
        day = claimed_at.astimezone(CHINA_TIME).date() + timedelta(days=spec.valid_days + 1)
        return claimed_at, datetime(day.year, day.month, day.day, tzinfo=CHINA_TIME).astimezone(claimed_at.tzinfo)
    assert spec.window_days is not None
    return start + timedelta(days=spec.window_days[0]), start + timedelta(days=spec.window_days[1])


def coupon_parts(spec: TemplateSpec, lines: list[tuple[str, ProductSpec, int]]) -> dict[str, int] | str:
    """line_id → fen the coupon takes off, or the refusal's code. ``lines``: (line_id, product, amount)
    in the order's line order. The documented rule: the discount (amount, or percent floored to the fen
    and at most its ceiling; never more than the lines in scope; nothing below the minimum spend) is
    spread pro rata over the lines in scope; each gets the floor of its exact share, and the fen left
    go one each to the largest dropped fractions, ties to the earlier line."""
    def in_scope(product: ProductSpec) -> bool:
        if spec.scope == "products":
            return product.product_id in spec.scope_ids
        return spec.scope == "all" or product.category_id in spec.scope_ids

    eligible = [(line_id, amount) for line_id, product, amount in lines if in_scope(product)]
    total = sum(amount for _, amount in eligible)
    if not eligible:
        return "coupon_out_of_scope"
    if total < spec.min_spend or total <= 0:
        return "coupon_min_spend"
    off = spec.off if spec.kind == "amount" else min(total * spec.off // BASIS, spec.max_off or total)
    off = min(off, total)
    if off <= 0:
        return "coupon_min_spend"
    exact = [(line_id, Fraction(off * amount, total)) for line_id, amount in eligible]
    parts = {line_id: int(share) for line_id, share in exact}  # floor: shares are never negative
    by_fraction = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - int(exact[i][1])), i))
    for i in by_fraction[:off - sum(parts.values())]:
        parts[exact[i][0]] += 1
    return {line_id: fen for line_id, fen in parts.items() if fen}


# ---- campaigns -----------------------------------------------------------------------------------


@dataclass
class MCampaign:
    campaign_id: str
    name: str
    starts_at: datetime  # UTC, from the China time it was written in
    ends_at: datetime
    kind: str  # points | multiplier
    l1_points: int = 0
    l2_points: int = 0
    multiplier: int = 100
    weekdays: tuple[int, ...] = ()
    product_ids: tuple[str, ...] = ()
    category_ids: tuple[str, ...] = ()
    promoter_ids: tuple[str, ...] = ()
    level_ids: tuple[str, ...] = ()
    new_days: int | None = None
    ended_at: datetime | None = None
    #: A payment reads the campaigns saved by then: one created with a start already past (the minute
    #: it was typed in) never reaches back to payments recorded before it was saved.
    created_at: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        """Saved by then, starts_at ≤ at < its end (or when it was ended early), on its China weekdays."""
        end = self.ends_at if self.ended_at is None else min(self.ends_at, self.ended_at)
        saved = self.created_at is None or self.created_at <= at
        return saved and self.starts_at <= at < end and (not self.weekdays
                                                or at.astimezone(CHINA_TIME).isoweekday() in self.weekdays)

    def takes(self, product: ProductSpec, who: str, level_id: str, activated: datetime | None,
              at: datetime) -> bool:
        return ((not self.product_ids or product.product_id in self.product_ids)
                and (not self.category_ids or product.category_id in self.category_ids)
                and (not self.promoter_ids or who in self.promoter_ids)
                and (not self.level_ids or level_id in self.level_ids)
                and (self.new_days is None
                     or (activated is not None and at - activated < timedelta(days=self.new_days))))


def _china(at: datetime) -> str:
    """A time as the merchant types it: China wall-clock time, no offset."""
    return at.astimezone(CHINA_TIME).replace(tzinfo=None).isoformat(timespec="minutes")


@dataclass(frozen=True)
class Rate:
    """One level's rate: fen per unit plus bp of the base."""

    fixed_fen: int
    ratio_bp: int
    source: str

    def amount(self, base_fen: int, quantity: int) -> int:
        return self.fixed_fen * quantity + base_fen * self.ratio_bp // BASIS

    def boosted(self, c: MCampaign, level: int) -> Rate:
        if c.kind == "points":
            return Rate(self.fixed_fen, self.ratio_bp + (c.l1_points if level == 1 else c.l2_points), self.source)
        return Rate(self.fixed_fen * c.multiplier // 100, self.ratio_bp * c.multiplier // 100, self.source)


@dataclass(frozen=True)
class LineExpectation:
    amounts: tuple[int, int]  # after the cap
    campaigns: tuple[str | None, str | None]
    sources: tuple[str, str]
    capped: tuple[bool, bool]
    coupon_fen: int


class IncentiveOps:
    """Coupons and campaigns; ``self`` is the ``Simulator``."""

    def _init_incentives(self: Simulator) -> None:
        self.templates: dict[str, str] = {}  # spec name → template id
        self.issued: dict[str, int] = {}
        self.claims: dict[tuple[str, str], int] = {}  # (user, spec name) → claimed
        self.coupons: dict[str, MCoupon] = {}
        self.campaigns: list[MCampaign] = []
        self.activated: dict[str, datetime] = {}
        self.overrides: dict[str, tuple[int, int]] = {}
        self.start = self.clock.now
        self._wished: MCoupon | None = None

    def setup_incentives(self: Simulator) -> None:
        now = self.clock.now
        for spec in TEMPLATES:
            window = {} if spec.window_days is None else {
                "starts_at": now + timedelta(days=spec.window_days[0]),
                "ends_at": now + timedelta(days=spec.window_days[1])}
            view = coupon_service.create_template(coupons=CouponRepository(self.table), body=CouponTemplateIn(
                name=spec.name, kind=spec.kind, amount_off_fen=spec.off if spec.kind == "amount" else 0,  # type: ignore[arg-type]
                percent_off_bp=spec.off if spec.kind == "percent" else 0, max_off_fen=spec.max_off,
                min_spend_fen=spec.min_spend, scope=spec.scope, scope_ids=list(spec.scope_ids),  # type: ignore[arg-type]
                valid_days=spec.valid_days, total_quantity=spec.total, per_user_limit=spec.per_user,
                on_refund=spec.on_refund, **window), by=ADMIN, source_ip=None, now=now)  # type: ignore[arg-type]
            self.templates[spec.name] = view.template_id
            self.issued[spec.name] = 0
        name, l1, l2 = OVERRIDE
        uid = self.by_name[name]
        set_override(SetOverride(user_id=uid, l1_bp=l1, l2_bp=l2, reason="头部推广员", by=ADMIN, now=now),
                     network=ReferralRepositories.on(self.table), categories=CategoryRepository(self.table),
                     products=ProductRepository(self.table))
        self.overrides[uid] = (l1, l2)
        a3, b1, c0 = self.by_name["a3"], self.by_name["b1"], self.by_name["c0"]
        day = timedelta(days=1)
        plans: list[dict[str, Any]] = [
            # 周末双倍-like, China weekends only, for the whole run.
            {"name": "周末加倍", "starts_at": now - day, "ends_at": now + 60 * day, "weekdays": [6, 7],
             "scope": {"product_ids": ["p_tea", "p_cup"]}, "boost": {"kind": "multiplier", "multiplier_percent": 130}},
            # Opens and closes during the run, at China wall-clock times.
            {"name": "新品冲量", "starts_at": now + 2 * day + timedelta(hours=10), "ends_at": now + 6 * day,
             "scope": {"product_ids": ["p_tea"]},
             "boost": {"kind": "points", "l1_points_bp": 300, "l2_points_bp": 100}},
            # 高佣商品定向分配: p_book pays more to three chosen promoters only.
            {"name": "定向高佣", "starts_at": now - day, "ends_at": now + 90 * day,
             "scope": {"product_ids": ["p_book"], "promoter_ids": [a3, b1, c0]},
             "boost": {"kind": "points", "l1_points_bp": 600}},
            {"name": "黄金加成", "starts_at": now + 3 * day, "ends_at": now + 90 * day,
             "scope": {"category_ids": ["c_rated"], "level_ids": ["gold"]},
             "boost": {"kind": "points", "l1_points_bp": 200, "l2_points_bp": 100}},
            {"name": "新人前7天", "starts_at": now + day, "ends_at": now + 90 * day,
             "scope": {"product_ids": ["p_spa"], "new_promoter_days": 7},
             "boost": {"kind": "multiplier", "multiplier_percent": 120}},
            # Every day on the ``fixed`` p_cup: with its 60%-off coupon the cap clamps a boosted line.
            {"name": "杯子加佣", "starts_at": now - day, "ends_at": now + 90 * day,
             "scope": {"product_ids": ["p_cup"]}, "boost": {"kind": "points", "l1_points_bp": 100}},
            # Saved after 周末加倍 and stronger on L1 (weaker on L2) of p_tea: the best, not the first, applies.
            {"name": "周末茶叶", "starts_at": now - day, "ends_at": now + 90 * day, "weekdays": [6, 7],
             "scope": {"product_ids": ["p_tea"]}, "boost": {"kind": "points", "l1_points_bp": 400, "l2_points_bp": 50}},
        ]
        for plan in plans:
            view = self._create_campaign(plan, now)
            assert view is not None, plan
        # A boost that could take a line over the cap is refused at save (the clamp is the second line).
        refused = self._create_campaign({"name": "全场三倍", "starts_at": now, "ends_at": now + day, "scope": {},
                                         "boost": {"kind": "multiplier", "multiplier_percent": 300}}, now)
        assert refused is None

    def _create_campaign(self: Simulator, plan: dict[str, Any], now: datetime) -> Any:
        from mall.errors import DomainError
        body = CampaignRequest.model_validate({**plan, "starts_at": _china(plan["starts_at"]),
                                               "ends_at": _china(plan["ends_at"])})
        try:
            view = campaign_service.create(campaign_service.CampaignRepositories.on(self.table), body,
                                           campaign_service.Actor(ADMIN, None, now))
        except DomainError as exc:
            if exc.code != "commission_over_cap":
                raise
            self.stats["campaign refused over the cap"] += 1
            return None
        scope, boost = plan.get("scope", {}), plan["boost"]
        # The model's own reading of the window: China wall-clock time, minute precision.
        starts, ends = (datetime.strptime(_china(plan[k]), "%Y-%m-%dT%H:%M").replace(tzinfo=CHINA_TIME)
                        .astimezone(now.tzinfo) for k in ("starts_at", "ends_at"))
        self.campaigns.append(MCampaign(
            view.campaign_id, plan["name"], starts, ends, boost["kind"], boost.get("l1_points_bp", 0),
            boost.get("l2_points_bp", 0), boost.get("multiplier_percent", 100), tuple(plan.get("weekdays", ())),
            tuple(scope.get("product_ids", ())), tuple(scope.get("category_ids", ())),
            tuple(scope.get("promoter_ids", ())), tuple(scope.get("level_ids", ())), scope.get("new_promoter_days"),
            created_at=now))
        self.stats["campaign created"] += 1
        return view

    # ---- operations ---------------------------------------------------------------------------

    def op_claim(self: Simulator) -> Op | None:
        """A customer (or promoter) claims a coupon: refused exactly when sold out or at their limit."""
        from tests.integration.sim.model import Op, Result
        spec = self.rng.choices(TEMPLATES, weights=CLAIM_WEIGHTS)[0]
        buyer = self._pick(self._buyers())
        if buyer is None or not self._free(f"template:{spec.name}"):
            return None
        now = self.clock.now
        window_over = spec.window_days is not None and now >= self.start + timedelta(days=spec.window_days[1])
        expected = ("coupon_sold_out" if self.issued[spec.name] >= spec.total or window_over
                    else "coupon_limit_reached" if self.claims.get((buyer, spec.name), 0) >= spec.per_user else "")

        def apply(results: list[Result]) -> None:
            r = results[0]
            if (r.code if r.kind == "refused" else "") != expected or r.kind not in {"ok", "refused"}:
                self.fail(f"claiming {spec.name}: {r.kind} {r.code}, the model expected {expected or 'ok'}")
            if r.kind == "ok":
                self.issued[spec.name] += 1
                self.claims[(buyer, spec.name)] = self.claims.get((buyer, spec.name), 0) + 1
                valid_from, valid_until = coupon_validity(spec, now, self.start)
                coupon = r.value.coupon
                self.coupons[coupon.coupon_id] = MCoupon(coupon.coupon_id, buyer, spec, self.templates[spec.name],
                                                         valid_from, valid_until)
                self.stats["coupon claimed"] += 1

        return Op("claim coupon", [lambda: coupon_service.claim(
            coupon_service.ClaimCoupon(template_id=self.templates[spec.name], user_id=buyer, now=now),
            repos=coupon_service.CouponRepositories.on(self.table))], apply,
            frozenset({f"buyer:{buyer}", f"template:{spec.name}"}))

    def coupon_product(self: Simulator, buyer: str) -> str | None:
        """Often a buyer holding a coupon for some products orders one of them (and uses that coupon)."""
        now = self.clock.now
        scoped = [c for c in self.coupons.values() if c.owner == buyer and c.status == "unused"
                  and c.spec.scope == "products" and c.valid_from <= now < c.valid_until]
        # The coupon that makes the cap clamp is used first whenever held: the fast run must see the clamp.
        clamping = [c for c in scoped if c.spec is TEMPLATES[-1]]
        self._wished = (self.rng.choice(clamping) if clamping and self.rng.random() < 0.9
                        else self.rng.choice(scoped) if scoped and self.rng.random() < 0.6 else None)
        return self._wished.spec.scope_ids[0] if self._wished is not None else None

    def choose_coupon(self: Simulator, buyer: str,
                      lines: list[tuple[str, ProductSpec, int]]) -> tuple[MCoupon | None, dict[str, int] | str]:
        """One of the buyer's coupons for an order of ``lines`` (placeholder line ids, catalog amounts):
        mostly one the model says applies; sometimes one it says is refused (and why)."""
        now = self.clock.now
        held = [c for c in self.coupons.values() if c.owner == buyer and c.status == "unused"
                and c.valid_from <= now < c.valid_until]
        if not held or self.rng.random() < 0.15:
            return None, {}
        outcomes = [(c, coupon_parts(c.spec, lines)) for c in held]
        wished = [(c, parts) for c, parts in outcomes if c is self._wished and not isinstance(parts, str)]
        again = [(c, parts) for c, parts in outcomes if c.used_by and not isinstance(parts, str)]
        if wished or again:  # the coupon the products were chosen for; or one given back, used again
            return self.rng.choice(wished or again)
        usable = [(c, parts) for c, parts in outcomes if not isinstance(parts, str)]
        # A discount spread over several lines is where the remainder rule shows: preferred.
        spread = [(c, parts) for c, parts in usable if len(parts) > 1]
        if spread and self.rng.random() < 0.7:
            return self.rng.choice(spread)
        if usable and self.rng.random() < 0.93:
            return self.rng.choice(usable)
        return self.rng.choice(outcomes)

    def op_campaign(self: Simulator) -> Op | None:
        """The owner starts a campaign (in some hours, for some days, China time) or ends one early."""
        from tests.integration.sim.model import Op, Result
        now = self.clock.now
        open_ones = [c for c in self.campaigns if c.ended_at is None and now < c.ends_at]
        if open_ones and self.rng.random() < 0.35:
            campaign = self.rng.choice(open_ones)

            def end() -> Any:
                repos = campaign_service.CampaignRepositories.on(self.table)
                version = next(c.version for c in repos.campaigns.read(consistent=True).campaigns
                               if c.campaign_id == campaign.campaign_id)
                return campaign_service.end(repos, campaign.campaign_id, version,
                                            campaign_service.Actor(ADMIN, None, now))

            def ended(results: list[Result]) -> None:
                if results[0].kind != "ok":
                    self.fail(f"ending campaign {campaign.name}: {results[0]}")
                campaign.ended_at = now
                self.stats["campaign ended early"] += 1

            return Op(f"campaign end {campaign.name}", [end], ended, exclusive=True)
        start = now + timedelta(hours=self.rng.choice([0, 5, 30]))
        scope = self.rng.choice([{"product_ids": ["p_tea"]}, {"product_ids": ["p_cup", "p_book"]},
                                 {"category_ids": ["c_rated"], "level_ids": ["silver", "gold"]},
                                 {"promoter_ids": self.rng.sample(self.promoters, 2)}])
        boost = self.rng.choice([{"kind": "points", "l1_points_bp": 200, "l2_points_bp": 50},
                                 {"kind": "multiplier", "multiplier_percent": 120}])
        plan = {"name": "限时加佣", "starts_at": start, "ends_at": start + timedelta(days=self.rng.choice([1, 2, 4])),
                "weekdays": self.rng.choice([[], [], [1, 2, 3, 4, 5]]), "scope": scope, "boost": boost}

        def create() -> Any:
            return self._create_campaign(plan, now)

        return Op("campaign create", [create], exclusive=True)

    # ---- the model follows the orders -----------------------------------------------------------

    def coupon_follows(self: Simulator, order: MOrder, status: str) -> None:
        """An order with a coupon read back as ``status``: an unpaid order that expired gives it back;
        a refund that closed it gives it back when its template says so and it is still valid."""
        coupon = self.coupons.get(order.coupon_id or "")
        if coupon is None or coupon.order_id != order.order_id or coupon.status != "used":
            return
        back = status in {"EXPIRED", "PAID_AFTER_EXPIRY"} or (
            status == "CLOSED" and coupon.spec.on_refund == "return_if_full_refund"
            and self.clock.now < coupon.valid_until)
        if back:
            coupon.status, coupon.order_id = "unused", None
            self.stats["coupon given back " + ("(expired order)" if status != "CLOSED" else "(full refund)")] += 1
        elif status == "CLOSED":
            self.stats["coupon kept used after a full refund"] += 1

    # ---- the oracle --------------------------------------------------------------------------------

    def line_expectation(self: Simulator, order: MOrder, line: MLine) -> LineExpectation:
        """What each level of ``line`` earns when ``order``'s payment was recorded (module doc)."""
        spec = line.spec
        base = line.paid_fen
        earners = order.expected
        if not spec.enabled or base <= 0:
            return LineExpectation((0, 0), (None, None), ("", ""), (False, False), line.coupon_fen)
        at = order.recorded_at
        assert at is not None
        rates: list[Rate] = []
        chosen: list[str | None] = []
        for level, who, level_index in ((1, earners[0], order.levels[0]), (2, earners[1], order.levels[1])):
            lv = self.levels_table[level_index]
            points = lv.l1_points if level == 1 else lv.l2_points
            override = self.overrides.get(who or "")
            fallback, fallback_source = spec.fallback()
            if override is not None:
                rate = Rate(0, override[level - 1] + points, "override")
            elif spec.mode == "fixed":
                rate = Rate(spec.l1 if level == 1 else spec.l2, points, "product")
            elif spec.mode == "ratio":
                rate = Rate(0, (spec.l1 if level == 1 else spec.l2) + points, "product")
            else:
                rate = Rate(0, fallback[level - 1] + points, fallback_source)
            best, best_amount, best_id = rate, rate.amount(base, line.quantity), None
            if who is not None:
                for c in sorted(self.campaigns, key=lambda c: c.campaign_id):
                    if c.in_force(at) and c.takes(spec, who, lv.level_id, self.activated.get(who), at):
                        candidate = rate.boosted(c, level)
                        if candidate.amount(base, line.quantity) > best_amount:
                            best, best_amount, best_id = candidate, candidate.amount(base, line.quantity), c.campaign_id
            rates.append(best)
            chosen.append(best_id)
        wanted = [rates[0].amount(base, line.quantity), rates[1].amount(base, line.quantity)]
        cap = base * CAP_LIMIT_BP // BASIS
        l1 = min(wanted[0], cap)
        l2 = min(wanted[1], cap - l1)
        return LineExpectation((l1, l2), (chosen[0], chosen[1]), (rates[0].source, rates[1].source),
                               (l1 != wanted[0], l2 != wanted[1]), line.coupon_fen)


# ---- the checks --------------------------------------------------------------------------------------


def check_rule(key: tuple[str, str, int], rule: dict[str, Any], shape: tuple[str | None, bool, int, str],
               problems: list[str], counts: Counter[str]) -> None:
    """A record's rule snapshot names what shaped it: the campaign (or none), the clamp, the
    coupon's share of the line, the rate source."""
    campaign, capped, coupon_fen, source = shape
    said = ((rule.get("campaign") or {}).get("campaign_id"), bool(rule.get("capped")),
            int(rule.get("coupon_fen", 0)), rule.get("source"))
    if said != shape:
        problems.append(f"{key}: the rule says campaign/capped/coupon_fen/source {said}, expected {shape}")
    counts["records boosted by a campaign"] += campaign is not None
    counts["records clamped by the cap"] += capped
    counts["records clamped with a campaign"] += capped and campaign is not None
    counts["records on a line with a coupon"] += coupon_fen > 0
    counts["records at a promoter's override"] += source == "override"


def check_coupons(sim: Simulator, items: dict[tuple[str, str], dict[str, Any]], problems: list[str],
                  counts: Counter[str]) -> None:
    """Every coupon is where the model says (unused, or used by the order that holds it); every
    order placed with one stores the model's spread."""
    stored = {str(i["coupon_id"]): i for i in items.values() if i.get("entity") == "coupon"}
    if set(stored) != set(sim.coupons):
        problems.append(f"coupons stored {sorted(set(stored) - set(sim.coupons))[:3]} beyond the model's, "
                        f"missing {sorted(set(sim.coupons) - set(stored))[:3]}")
    for coupon_id, coupon in sim.coupons.items():
        item = stored.get(coupon_id, {})
        if (item.get("status"), item.get("order_id")) != (coupon.status, coupon.order_id):
            problems.append(f"coupon {coupon_id} ({coupon.spec.name}) is {item.get('status')} by "
                            f"{item.get('order_id')}, the model says {coupon.status} by {coupon.order_id}")
    orders = {str(i["order_id"]): i for i in items.values() if i.get("entity") == "order" and i["sk"] == "ORDER"}
    for order in sim.orders:
        if order.coupon_id is None:
            continue
        used = orders[order.order_id].get("coupon") or {}
        want = {line.line_id: line.coupon_fen for line in order.lines if line.coupon_fen}
        have = {str(k): int(v) for k, v in (used.get("lines") or {}).items()}
        if (used.get("coupon_id"), have, int(used.get("discount_fen", -1))) != (order.coupon_id, want,
                                                                                 sum(want.values())):
            problems.append(f"{order.order_id}: stores coupon {used}, the model spread {order.coupon_id} as {want}")
        counts["paid orders with a coupon"] += order.recorded
    counts["coupons claimed"] = len(sim.coupons)
    for name, count in sim.stats.items():
        if name.startswith(("coupon given back", "coupon kept", "order placed with", "campaign ", "order refused")):
            counts[name] = count
