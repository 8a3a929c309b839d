"""Share visits (分享访问): recorded, rate-limited per source, and in first_click mode a binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mall.config import get_settings
from mall.dal.referral import VisitRateLimiter, VisitRepository
from mall.domain import referral as rules
from mall.domain.referral import BindRefused, ShareChannel
from mall.domain.settings import BindingMode
from mall.errors import Conflict, NotFound, TooManyRequests
from mall.integrations import pii_crypto
from mall.schemas.referral import VisitResult
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import Bind, bind
from mall.services.referral.views import binding_view


@dataclass(frozen=True)
class RecordVisit:
    """A visit through a promoter's share: ``visitor_id`` when the visitor is logged in; ``rate``
    None: the configured one."""

    code: str
    source: ShareChannel
    product_id: str | None
    visitor_id: str | None
    device_id: str | None
    source_ip: str | None
    now: datetime
    rate: rules.VisitRate | None = None


def record_visit(command: RecordVisit, *, network: ReferralRepositories, visits: VisitRepository,
                 visit_rate: VisitRateLimiter) -> VisitResult:
    """A share visit (分享访问). Recorded (device id and IP are stored, never logged) unless its source
    IP is past ``rate`` (default: the configured ``SHARE_VISIT_RATE_LIMIT`` per
    ``SHARE_VISIT_RATE_WINDOW_SECONDS``): then 429 ``too_many_visits`` with Retry-After, nothing
    stored. It counts in the statistics once per source per promoter per day
    (``rules.visit_sources``). In first_click mode a logged-in visitor is bound when the rules allow,
    otherwise ``binding_refused`` says why (the visit itself is not an error)."""
    c = command
    rate = c.rate
    if rate is None:
        config = get_settings()
        rate = rules.VisitRate(limit=config.share_visit_rate_limit,
                               window_seconds=config.share_visit_rate_window_seconds)
    sources = rules.visit_sources(source_ip=c.source_ip, device_id=c.device_id, visitor_id=c.visitor_id)
    fingerprints = [pii_crypto.fingerprint(value, kind=f"visit_{kind}") for kind, value in sources]
    if sources:  # the first source is the IP when there is one (API Gateway always gives it)
        window_start, retry_after = rules.rate_window(c.now, rate.window_seconds)
        if not visit_rate.allow(source=fingerprints[0], window_start=window_start,
                                window_seconds=rate.window_seconds, limit=rate.limit):
            raise TooManyRequests(f"more than {rate.limit} share visits in {rate.window_seconds} s from one source",
                                  retry_after_seconds=retry_after, code="too_many_visits")
    promoter = network.promoters.get_by_code(c.code) if rules.is_valid_code(c.code) else None
    if promoter is None:
        raise NotFound("no promoter with this code", code="promoter_not_found")
    visit_id, _ = visits.record(promoter_id=promoter.user_id, promoter_code=c.code, source=c.source,
                                product_id=c.product_id, visitor_id=c.visitor_id, device_id=c.device_id,
                                source_ip=c.source_ip, now=c.now, sources=fingerprints)
    if c.visitor_id is None:
        return VisitResult(visit_id=visit_id, outcome="not_logged_in")
    settings = network.settings.current().settings
    if settings.binding_mode != BindingMode.FIRST_CLICK:
        return VisitResult(visit_id=visit_id, outcome="not_bound", binding_refused="binding_mode_mismatch")
    try:
        outcome = bind(Bind(customer_id=c.visitor_id, promoter_id=promoter.user_id, trigger="visit",
                            source=c.source, now=c.now, by=c.visitor_id, promoter_code=c.code, device_id=c.device_id,
                            client_ip=c.source_ip), network=network)
    except BindRefused as refused:
        return VisitResult(visit_id=visit_id, outcome="not_bound", binding_refused=refused.error.code)
    except Conflict as lost:
        return VisitResult(visit_id=visit_id, outcome="not_bound", binding_refused=lost.code)
    if outcome.outcome == "unbound":  # a visit never unbinds; kept for the type checker
        return VisitResult(visit_id=visit_id, outcome="not_bound")
    return VisitResult(visit_id=visit_id, outcome=outcome.outcome,
                       binding=binding_view(outcome.binding) if outcome.binding else None)
