"""Staff roles and what each may do (员工与权限): the one table of capabilities.

Each admin route declares the capability it needs (``**staff(Capability.MONEY_RULES)`` in
``mall.api.auth``), which the OpenAPI document spells out as the roles of this table
(``x-mall-roles``): the authorization matrix, the console's navigation and the role check all read
those roles, so changing a row here changes all of them. docs/security.md ("Staff roles") has the
table in words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from mall.domain.audit import flatten
from mall.domain.tokens import STAFF_ROLES, Role
from mall.errors import Conflict, FieldProblem, Forbidden, InvalidInput


class Capability(StrEnum):
    """One row of the staff table each."""

    STAFF = "staff"  # staff accounts and roles
    MONEY_RULES = "money_rules"  # rates, cap, settlement, withdrawal rules, team bonus, campaigns
    OPERATIONS = "operations"  # other settings, catalog, shipping, 核销, promoter review, bindings, levels, overrides
    MONEY_OPERATIONS = "money_operations"  # refunds, withdrawals (approve, reject, bank marks), adjustments
    RISK = "risk"  # risk cases: confirm (voids commission), release
    REVEAL_ADDRESS = "reveal_address"  # an order's full shipping address (audited)
    REVEAL_BANK_ACCOUNT = "reveal_bank_account"  # a withdrawal's full bank account (audited)
    EXPORTS = "exports"  # exports, personal data masked
    READ = "read"  # everything else: dashboard, lists, details, the audit log
    OWN_ACCOUNT = "own_account"  # the admin's own password: every admin


_ALL = STAFF_ROLES
ROLES_BY_CAPABILITY: Mapping[Capability, frozenset[Role]] = {
    Capability.STAFF: frozenset({Role.OWNER}),
    Capability.MONEY_RULES: frozenset({Role.OWNER}),
    Capability.OPERATIONS: frozenset({Role.OWNER, Role.OPERATIONS}),
    Capability.MONEY_OPERATIONS: frozenset({Role.OWNER, Role.FINANCE}),
    Capability.RISK: frozenset({Role.OWNER, Role.FINANCE}),
    Capability.REVEAL_ADDRESS: frozenset({Role.OWNER, Role.OPERATIONS, Role.SUPPORT}),
    Capability.REVEAL_BANK_ACCOUNT: frozenset({Role.OWNER, Role.FINANCE}),
    Capability.EXPORTS: frozenset({Role.OWNER, Role.FINANCE, Role.OPERATIONS, Role.AUDITOR}),
    Capability.READ: _ALL,
    Capability.OWN_ACCOUNT: _ALL,
}

#: The order roles are listed in (the table's columns), so documents and tokens read the same way.
ROLE_ORDER: tuple[Role, ...] = (Role.OWNER, Role.FINANCE, Role.OPERATIONS, Role.SUPPORT, Role.AUDITOR)


def roles_for(capability: Capability) -> tuple[Role, ...]:
    """The roles holding ``capability``, in the table's order."""
    allowed = ROLES_BY_CAPABILITY[capability]
    return tuple(r for r in ROLE_ORDER if r in allowed)


def may(roles: Iterable[Role], capability: Capability) -> bool:
    return bool(set(roles) & ROLES_BY_CAPABILITY[capability])


def admits(declared: Iterable[str], held: Iterable[Role]) -> bool:
    """Whether a caller holding ``held`` passes a route declaring ``declared`` (role names). A
    route still declaring the single ``admin`` role of before staff roles admits owners only, until
    it is given its capability (the authorization test refuses such a declaration)."""
    allowed = set(declared)
    if Role.ADMIN.value in allowed:
        allowed.add(Role.OWNER.value)
    return bool({r.value for r in held} & allowed)


def sorted_roles(roles: Iterable[Role]) -> list[str]:
    held = set(roles)
    return [r.value for r in ROLE_ORDER if r in held]


def parse_staff_roles(names: Iterable[str], *, field: str = "roles") -> frozenset[Role]:
    """An admin's roles: at least one, each a staff role (not customer, promoter or the old admin)."""
    found: set[Role] = set()
    problems = []
    for index, name in enumerate(names):
        try:
            role = Role(name)
        except ValueError:
            role = None
        if role is None or role not in STAFF_ROLES:
            problems.append(FieldProblem(f"{field}.{index}", f"{name!r} is not a staff role "
                                                             f"({', '.join(r.value for r in ROLE_ORDER)})"))
        else:
            found.add(role)
    if not found and not problems:
        problems.append(FieldProblem(field, "an admin holds at least one role"))
    if problems:
        raise InvalidInput("invalid roles", fields=problems)
    return frozenset(found)


def is_enabled_owner(roles: Iterable[Role], disabled: bool) -> bool:
    return not disabled and Role.OWNER in set(roles)


def removes_an_owner(*, roles_before: Iterable[Role], disabled_before: bool, roles_after: Iterable[Role],
                     disabled_after: bool) -> bool:
    """The change takes an enabled owner away (the owner role removed, or the account disabled)."""
    return is_enabled_owner(roles_before, disabled_before) and not is_enabled_owner(roles_after, disabled_after)


def last_owner_refusal(username: str) -> Conflict:
    return Conflict(f"{username!r} is the last enabled owner: make another admin an owner first",
                    code="last_owner", details={"username": username})


# ---- money rules inside the settings document ------------------------------------------------------

#: Sections of the distribution settings that are money rules (owner only); the rest of the
#: document is "other settings" (owner and operations). A level's name and upgrade conditions are
#: other settings, its rate points (``l1_points_bp`` / ``l2_points_bp``) money rules.
MONEY_RULE_SECTIONS: tuple[str, ...] = ("commission", "withdrawal", "team_bonus", "campaigns",
                                         "leaderboard_prizes")
MONEY_RULE_LEVEL_FIELDS: tuple[str, ...] = ("l1_points_bp", "l2_points_bp")


def _money_rules_of(document: Mapping[str, Any] | None) -> dict[str, Any]:
    document = document or {}
    levels: dict[str, Any] = {}
    for level in document.get("levels") or []:
        points = {name: level.get(name, 0) for name in MONEY_RULE_LEVEL_FIELDS}
        if any(points.values()):  # a level adding no points pays nothing more: not a money rule
            levels[str(level.get("id"))] = points
    projected = {section: document.get(section) for section in MONEY_RULE_SECTIONS if section in document}
    return flatten({**projected, **({"levels": levels} if levels else {})})


def money_rule_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """The money-rule paths that differ between two settings documents (as JSON): section paths
    (``commission.l1_rate_bp``) and level points by level id (``levels.gold.l1_points_bp``)."""
    old, new = _money_rules_of(before), _money_rules_of(after)
    missing = object()
    return sorted(p for p in set(old) | set(new) if old.get(p, missing) != new.get(p, missing))


def refuse_money_rule_changes(roles: Iterable[Role], changed: list[str]) -> None:
    """403 naming each money-rule field a caller without ``MONEY_RULES`` tried to change."""
    if changed and not may(roles, Capability.MONEY_RULES):
        raise Forbidden("money rules (rates, cap, settlement, withdrawal rules, team bonus, prizes) are changed "
                        "by an owner only; save the other settings with these fields as they are",
                        code="money_rules_owner_only",
                        fields=[FieldProblem(path, "a money rule: owner only") for path in changed])


def require(roles: Iterable[Role], capability: Capability, what: str) -> None:
    """403 unless ``roles`` hold ``capability`` (a check inside a use case, beside the route's)."""
    if not may(roles, capability):
        allowed = " or ".join(r.value for r in roles_for(capability))
        raise Forbidden(f"only {allowed} may {what}", code="forbidden_role")
