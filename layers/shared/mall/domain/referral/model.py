"""The referral network's vocabulary (上下级关系, 推广员): promoters, bindings, share sources, the
attribution snapshot, codes and the share page. Pure, no I/O.

At most two levels ever earn (L1 = the buyer's parent promoter, L2 = that promoter's parent).
That limit is in the shape of ``Attribution`` (two fields, no list), not in a check that could be
configured away.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from mall.domain.promoter_text import banned_phrase_in, single_line_problem
from mall.errors import FieldProblem, InvalidInput

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

PromoterStatus = Literal["applied", "active", "frozen", "disabled", "rejected"]
PROMOTER_STATUSES: tuple[PromoterStatus, ...] = ("applied", "active", "frozen", "disabled", "rejected")
#: Promoter statuses that keep a promoter's due records from settling. Frozen (冻结) holds them
#: until the admin unfreezes; disabled (禁用) voids them (``mall.domain.settlement.voids_unsettled``).
SETTLEMENT_BLOCKING_STATUSES: frozenset[str] = frozenset({"frozen", "disabled"})
ShareChannel = Literal["link", "qr", "poster"]
#: How a binding came to be: a share channel (first_click / first_payment), an entered code, or an admin.
BindSource = Literal["link", "qr", "poster", "invite_code", "admin"]
BindTrigger = Literal["visit", "invite_code", "first_payment", "admin"]
#: 有效下线: what a headcount condition counts, in the words ``GET /rules`` uses. A customer counts
#: from their first paid order (the binding's ``paid`` flag), once, for whoever they are bound to.
EFFECTIVE_MEMBER_TERM = "有效下线"
EFFECTIVE_MEMBER_DEFINITION = "已有付款订单的直接邀请客户；只注册或只绑定、从未付款的客户不计入"
#: Who put the promoter at their level: ``auto`` (application, upgrade, downgrade: follows the
#: counters) or ``admin`` (an admin's choice: sticky, never re-evaluated by sales or refunds).
LevelSource = Literal["auto", "admin"]

CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"  # no 0/O, 1/l/I look-alikes
CODE_LENGTH = 8
CODE_PATTERN = re.compile(r"^[0-9A-Za-z]{1,32}$")
DEFAULT_SHARE_PAGE = "pages/index/index"
SHARE_PAGE_PATTERN = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
SHARE_PAGE_MAX_LENGTH = 128
#: A transaction holds at most 100 operations; the ancestor walk leaves room for the other writes.
MAX_ANCESTOR_DEPTH = 80


@dataclass(frozen=True)
class ShareSource:
    """分享来源: where a customer came from (carried by an order in first_payment mode)."""

    promoter_code: str
    source: ShareChannel
    product_id: str | None = None


@dataclass(frozen=True)
class Attribution:
    """归属快照, stored on the order as a dict (``asdict``). Two levels, never more."""

    l1_promoter_id: str | None
    l2_promoter_id: str | None
    settings_version: int
    basis: Literal["binding", "share_first_payment", "self_purchase", "none"]
    self_purchase: bool = False


@dataclass(frozen=True)
class Promoter:
    """推广员. ``status``: applied → active ⇄ frozen, any → disabled; applied → rejected."""

    user_id: str
    code: str
    status: PromoterStatus
    level_id: str
    l1_override_bp: int | None = None
    l2_override_bp: int | None = None
    nickname: str | None = None
    applied_at: datetime | None = None
    activated_at: datetime | None = None
    accepted_rules_version: int = 0
    accepted_rules_at: datetime | None = None
    direct_members: int = 0
    second_level_members: int = 0
    own_sales_fen: int = 0
    team_sales_fen: int = 0
    last_active_at: datetime | None = None
    reason: str | None = None
    version: int = 1
    #: 有效下线: direct members who have paid an order (each counted once, when their first paid
    #: order is seen or when a paying customer binds): what a headcount level condition counts.
    effective_members: int = 0
    #: None on items written before the level's origin was recorded: treated as an admin's choice
    #: (never re-evaluated down) until the ``promoter_level_source`` migration fills it in.
    level_source: LevelSource | None = None
    #: Made a promoter by the merchant (no application): the promoter agreement is not accepted yet,
    #: and the ``promoter`` role waits for that acceptance.
    agreement_pending: bool = False

    @property
    def level_follows_counters(self) -> bool:
        return self.level_source == "auto"

    @property
    def counters(self) -> Counters:
        return Counters(self.effective_members, self.own_sales_fen, self.team_sales_fen)

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Binding:
    """A customer's parent promoter (上级). One item per customer; ``version`` +1 on every change."""

    user_id: str
    parent_id: str
    bound_at: datetime
    source: BindSource
    trigger: BindTrigger
    promoter_code: str | None = None
    sales_fen: int = 0
    version: int = 1
    #: the customer has paid an order: they count as their parent's 有效下线
    paid: bool = False

@dataclass(frozen=True)
class Counters:
    """What level conditions compare: the number of 有效下线 (direct members with a paid order, not
    mere sign-ups) and the sales counters, kept on the distribution base net of refunds."""

    effective_members: int
    own_sales_fen: int
    team_sales_fen: int


# ---------------------------------------------------------------------------------------
# Codes and texts
# ---------------------------------------------------------------------------------------


def new_promoter_code() -> str:
    """A random short code, usable as a WeChat QR ``scene`` (≤ 32 chars, letters and digits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_valid_code(code: str) -> bool:
    return bool(CODE_PATTERN.match(code))


def share_page_from(value: str | None) -> str:
    """The share page (env ``SHARE_PAGE``) as every share channel uses it: blank → the default; else
    a mini-program page path WeChat's QR API accepts (no leading ``/``, no query). Raises ValueError."""
    page = (value or "").strip() or DEFAULT_SHARE_PAGE
    if len(page) > SHARE_PAGE_MAX_LENGTH or not SHARE_PAGE_PATTERN.match(page):
        raise ValueError(f"SHARE_PAGE must be a page path like {DEFAULT_SHARE_PAGE} (no leading /, no query, "
                         f"at most {SHARE_PAGE_MAX_LENGTH} characters): {page!r}")
    return page


@dataclass(frozen=True, slots=True)
class ShareTarget:
    """Where a promoter's share lands: the mini-program ``page`` receiving the code as ``scene``.
    A QR code (``getwxacodeunlimit(page, scene)``), a poster's QR and the share link are all this."""

    page: str
    scene: str

    @property
    def link(self) -> str:
        return f"{self.page}?scene={self.scene}"


def share_target(page: str, code: str) -> ShareTarget:
    """The one definition of a promoter's share (link, QR, poster); refuses a page or code that
    WeChat would not take as a QR ``page`` / ``scene``."""
    if not is_valid_code(code):
        raise ValueError(f"not a promoter code usable as a QR scene: {code!r}")
    return ShareTarget(page=share_page_from(page), scene=code)


def share_link(page: str, code: str) -> str:
    """The link a promoter shares, ``<page>?scene=<code>``: exactly what their QR code opens."""
    return share_target(page, code).link


def refuse_banned_text(field_name: str, text: str | None, settings: DistributionSettings) -> None:
    """Any promoter-facing text (nickname, title, poster copy) is refused with the phrase named, in
    any spelling a reader still reads as the phrase (mall.domain.promoter_text); and, being one line,
    with no control character, line break or bidi control (``invalid_text``)."""
    if not text:
        return
    phrase = banned_phrase_in(text, settings.all_banned_phrases())
    if phrase is not None:
        raise InvalidInput(f"{field_name} contains a banned phrase: {phrase}", code="banned_phrase",
                           fields=[FieldProblem(field_name, f"contains the banned phrase {phrase!r}")])
    line = single_line_problem(text)
    if line is not None:
        raise InvalidInput(f"{field_name} is not one line of plain text", code="invalid_text",
                           fields=[FieldProblem(field_name, line)])
