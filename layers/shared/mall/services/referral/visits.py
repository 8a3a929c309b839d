"""Share visits (分享访问): recorded, rate-limited per source, and in first_click mode a binding.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.clock import china_day
from mall.config import get_settings
from mall.dal.referral import (
    ExtraWritesRefused,
    NewVisit,
    RateLimit,
    TransactionCancelled,
    VisitFacts,
    VisitRateExceeded,
    VisitRateLimiter,
    VisitRepository,
)
from mall.domain import referral as rules
from mall.domain.referral import BindRefused, ShareChannel
from mall.domain.settings_terms import BindingMode
from mall.errors import NotFound, TooManyRequests
from mall.integrations import pii_crypto
from mall.schemas.binding import VisitResult
from mall.services.referral import ATTEMPTS, ReferralRepositories
from mall.services.referral.binding import Bind, PlannedBind, plan_bind, upgrade_after_bind
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


@dataclass(frozen=True)
class VisitRider:
    """Another use case done with the visit (a coupon claimed through the share): ``reads`` (its
    repository's keys) ride in the visit's first BatchGetItem; ``writes`` gets the items of them
    found and the settings' binding mode, and returns its writes for the visit's transaction (or
    raises its own refusal: nothing is stored); ``refused`` turns the indexes of its writes whose
    conditions failed into its error."""

    reads: Sequence[Any]
    writes: Callable[[Sequence[Any], BindingMode], Sequence[Any]]
    refused: Callable[[frozenset[int]], Exception]


def record_visit(command: RecordVisit, *, network: ReferralRepositories, visits: VisitRepository,
                 visit_rate: VisitRateLimiter, rider: VisitRider | None = None) -> VisitResult:
    """A share visit (分享访问). Recorded (device id and IP are stored, never logged) unless its source
    IP is past ``rate`` (default: the configured ``SHARE_VISIT_RATE_LIMIT`` per
    ``SHARE_VISIT_RATE_WINDOW_SECONDS``): then 429 ``too_many_visits`` with Retry-After, nothing
    stored. It counts in the statistics once per source per promoter per day
    (``rules.visit_sources``). In first_click mode a logged-in visitor is bound when the rules allow,
    otherwise ``binding_refused`` says why (the visit itself is not an error).

    Two batched reads and one transaction: the visit, its rate count, its "seen" markers and the
    visitor's binding are written together, each conditional on what was read; a concurrent change
    makes it read and decide again."""
    c = command
    rate = c.rate
    if rate is None:
        config = get_settings()
        rate = rules.VisitRate(limit=config.share_visit_rate_limit,
                               window_seconds=config.share_visit_rate_window_seconds)
    sources = rules.visit_sources(source_ip=c.source_ip, device_id=c.device_id, visitor_id=c.visitor_id)
    fingerprints = [pii_crypto.fingerprint(value, kind=f"visit_{kind}") for kind, value in sources]
    window_start, retry_after = rules.rate_window(c.now, rate.window_seconds)
    too_many = TooManyRequests(f"more than {rate.limit} share visits in {rate.window_seconds} s from one source",
                               retry_after_seconds=retry_after, code="too_many_visits")
    # The first source is the IP when there is one (API Gateway always gives it).
    limit = RateLimit(source=fingerprints[0], window_start=window_start, window_seconds=rate.window_seconds,
                      limit=rate.limit) if sources else None
    if not rules.is_valid_code(c.code):
        _count_refused(visit_rate, limit, too_many)
        raise NotFound("no promoter with this code", code="promoter_not_found")
    for attempt in range(ATTEMPTS):
        facts = network.reads.for_visit(code=c.code, visitor_id=c.visitor_id,
                                        rate_source=limit.source if limit else None, rate_window=window_start,
                                        day=china_day(c.now), sources=fingerprints,
                                        with_bind=c.visitor_id is not None, also=rider.reads if rider else ())
        if limit is not None and facts.rate_hits >= limit.limit:
            raise too_many
        if facts.promoter is None or facts.promoter_id is None:
            _count_refused(visit_rate, limit, too_many)  # unknown codes count too: no probing past the limit
            raise NotFound("no promoter with this code", code="promoter_not_found")
        # The last attempt records the visit alone: a bind still losing races then is refused.
        visit_only = attempt == ATTEMPTS - 1
        decided = _decide_bind(c, facts, network, visit_only=visit_only)
        extra = rider.writes(facts.also, facts.settings.settings.binding_mode) if rider else ()
        new = NewVisit(promoter_id=facts.promoter_id, promoter_code=c.code, source=c.source,
                       product_id=c.product_id, visitor_id=c.visitor_id, device_id=c.device_id,
                       source_ip=c.source_ip, now=c.now, sources=fingerprints)
        try:
            visit_id, _ = visits.record_at_once(new, seen=facts.seen, rate=limit,
                                                bind=decided.planned.plan if decided.planned else None, extra=extra)
        except VisitRateExceeded as exc:
            raise too_many from exc
        except ExtraWritesRefused as exc:
            if rider is None:
                raise
            raise rider.refused(exc.failed) from exc
        except TransactionCancelled:
            time.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # noqa: S311 - jitter, not a secret
            continue
        if decided.planned is None:
            return VisitResult(visit_id=visit_id, outcome="not_bound" if c.visitor_id else "not_logged_in",
                               binding_refused=decided.refused)
        if decided.planned.plan is not None:
            upgrade_after_bind(network, decided.planned.plan, facts.promoter_id, c.now)
        outcome = decided.planned.outcome
        if outcome.outcome == "unbound":  # a visit never unbinds; kept for the type checker
            return VisitResult(visit_id=visit_id, outcome="not_bound")
        return VisitResult(visit_id=visit_id, outcome=outcome.outcome,
                           binding=binding_view(outcome.binding) if outcome.binding else None)
    raise TooManyRequests("too many visits from this source at once; retry", retry_after_seconds=1,
                          code="too_many_visits")


@dataclass(frozen=True)
class _VisitBind:
    planned: PlannedBind | None  # None: the visit does not bind (``refused`` says why, if logged in)
    refused: str | None = None


def _decide_bind(c: RecordVisit, facts: VisitFacts, network: ReferralRepositories, *,
                 visit_only: bool) -> _VisitBind:
    if c.visitor_id is None or facts.bind is None or facts.promoter_id is None:
        return _VisitBind(None)
    if facts.settings.settings.binding_mode != BindingMode.FIRST_CLICK:
        return _VisitBind(None, "binding_mode_mismatch")
    command = Bind(customer_id=c.visitor_id, promoter_id=facts.promoter_id, trigger="visit", source=c.source,
                   now=c.now, by=c.visitor_id, promoter_code=c.code, device_id=c.device_id, client_ip=c.source_ip)
    try:
        planned = plan_bind(command, facts.bind, network.bindings)
    except BindRefused as refused:
        return _VisitBind(None, refused.error.code)
    if visit_only and planned.plan is not None:
        return _VisitBind(None, "retry_later")
    return _VisitBind(planned)


def _count_refused(visit_rate: VisitRateLimiter, limit: RateLimit | None, too_many: TooManyRequests) -> None:
    """A refused visit still counts against its source's rate (429 once past it)."""
    if limit is not None and not visit_rate.allow(source=limit.source, window_start=limit.window_start,
                                                  window_seconds=limit.window_seconds, limit=limit.limit):
        raise too_many
