"""Use cases of staff management (员工管理): an owner creates admins, sets their roles, disables or
enables them and resets their passwords; every admin changes their own password.

Every change moves the account's session version on, so the admin's tokens stop working within a
minute (``mall.api.auth.ensure_session_current``) and the next login carries the new roles. No
change may leave the shop without an enabled owner (409 ``last_owner``). Each change and its audit
entry are one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.identity import AdminRepository, LoginThrottle, StaffChange
from mall.dal.keys import staff_partition
from mall.domain import staff as rules
from mall.domain.identity import AdminAccount, validate_new_password
from mall.domain.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.schemas.identity import TokenResponse
from mall.schemas.staff import CreateStaffRequest, StaffPage, StaffView
from mall.services.identity import UNKNOWN_SOURCE, admin_token


@dataclass(frozen=True)
class Actor:
    """Who makes the change (an owner's token subject) and from where."""

    subject: str
    source_ip: str | None
    now: datetime


def view(account: AdminAccount) -> StaffView:
    return StaffView(username=account.username, display_name=account.display_name,
                     roles=rules.sorted_roles(account.roles), disabled=account.disabled,
                     created_at=iso(account.created_at),
                     last_login_at=iso(account.last_login_at) if account.last_login_at else None)


def list_staff(*, admins: AdminRepository, limit: int, cursor: str | None) -> StaffPage:
    found, last = admins.list_staff(limit=limit, start_key=cursors.decode(cursor, partition=staff_partition()))
    return StaffPage(items=[view(a) for a in found], next_cursor=cursors.encode(last))


def _account(admins: AdminRepository, username: str) -> AdminAccount:
    account = admins.get(username)
    if account is None:
        raise NotFound(f"no admin {username!r}", code="account_not_found")
    return account


def _all_staff(admins: AdminRepository) -> Iterator[AdminAccount]:
    start = None
    while True:
        found, start = admins.list_staff(limit=100, start_key=start)
        yield from found
        if start is None:
            return


def _owner_kept(admins: AdminRepository, account: AdminAccount) -> AdminAccount:
    """Another enabled owner, who must still be one when the change commits; 409 when there is none."""
    for other in _all_staff(admins):
        if other.username != account.username and rules.is_enabled_owner(other.roles, other.disabled):
            return other
    raise rules.last_owner_refusal(account.username)


def create_staff(*, admins: AdminRepository, log: AuditLog, body: CreateStaffRequest, actor: Actor) -> StaffView:
    roles = rules.parse_staff_roles(body.roles)
    validate_new_password(body.password, min_length=MIN_PASSWORD_LENGTH)
    account = AdminAccount(username=body.username, password_hash=hash_password(body.password), created_at=actor.now,
                           display_name=body.display_name, roles=roles)
    admins.create(account, also=[log.write(AuditEntry(
        action="staff.create", actor=actor.subject, entity_type="admin", entity_id=account.username,
        source_ip=actor.source_ip, after={"roles": rules.sorted_roles(roles), "disabled": False}), actor.now)])
    return view(account)


def _change(admins: AdminRepository, log: AuditLog, account: AdminAccount, change: StaffChange, *, action: str,
            actor: Actor, before: dict[str, object], after: dict[str, object]) -> StaffView:
    removes_owner = rules.removes_an_owner(
        roles_before=account.roles, disabled_before=account.disabled,
        roles_after=change.roles if change.roles is not None else account.roles,
        disabled_after=change.disabled if change.disabled is not None else account.disabled)
    if removes_owner:
        change = StaffChange(account=change.account, roles=change.roles, disabled=change.disabled,
                             password_hash=change.password_hash, keep_owner=_owner_kept(admins, account))
    entry = AuditEntry(action=action, actor=actor.subject, entity_type="admin", entity_id=account.username,
                       source_ip=actor.source_ip, before=before, after=after)
    return view(admins.change(change, also=[log.write(entry, actor.now)]))


def set_roles(*, admins: AdminRepository, log: AuditLog, username: str, roles: list[str], actor: Actor) -> StaffView:
    wanted = rules.parse_staff_roles(roles)
    account = _account(admins, username)
    if wanted == account.roles:
        return view(account)  # nothing changes: the admin's sessions go on
    return _change(admins, log, account, StaffChange(account=account, roles=wanted), action="staff.set_roles",
                   actor=actor, before={"roles": rules.sorted_roles(account.roles)},
                   after={"roles": rules.sorted_roles(wanted)})


def set_disabled(*, admins: AdminRepository, log: AuditLog, username: str, disabled: bool,
                 actor: Actor) -> StaffView:
    account = _account(admins, username)
    if account.disabled == disabled:
        return view(account)
    return _change(admins, log, account, StaffChange(account=account, disabled=disabled),
                   action="staff.disable" if disabled else "staff.enable", actor=actor,
                   before={"disabled": account.disabled}, after={"disabled": disabled})


def reset_password(*, admins: AdminRepository, log: AuditLog, username: str, password: str,
                   actor: Actor) -> StaffView:
    """An owner sets a new password for the admin (who forgot theirs); their sessions end."""
    validate_new_password(password, min_length=MIN_PASSWORD_LENGTH)
    account = _account(admins, username)
    return _change(admins, log, account, StaffChange(account=account, password_hash=hash_password(password)),
                   action="staff.reset_password", actor=actor, before={}, after={})


@dataclass(frozen=True)
class ChangeOwnPassword:
    username: str
    current_password: str
    new_password: str
    signing_key: bytes
    ttl_seconds: int


def change_own_password(*, admins: AdminRepository, throttle: LoginThrottle, log: AuditLog,
                        command: ChangeOwnPassword, actor: Actor) -> TokenResponse:
    """The admin's own new password, given the current one. Each attempt is counted first
    (``LoginThrottle.reserve_password_check``: a stolen token cannot guess the password without
    limit, and cannot lock the login either); a wrong current password is 422 on
    ``current_password``. Every other session of the admin ends; the answer is a fresh token, so
    the admin goes on working."""
    validate_new_password(command.new_password, min_length=MIN_PASSWORD_LENGTH)
    writes = throttle.reserve_password_check(command.username, actor.source_ip or UNKNOWN_SOURCE, actor.now)
    account = admins.get(command.username)
    if account is None or account.disabled:
        raise NotFound("admin account no longer exists", code="account_not_found")
    if not verify_password(command.current_password, account.password_hash):
        raise InvalidInput("the current password is not right", code="wrong_password",
                           fields=[FieldProblem("current_password", "is not your current password")])
    entry = AuditEntry(action="staff.change_own_password", actor=actor.subject, entity_type="admin",
                       entity_id=account.username, source_ip=actor.source_ip)
    changed = admins.change(StaffChange(account=account, password_hash=hash_password(command.new_password)),
                            also=[*writes, log.write(entry, actor.now)])
    return admin_token(changed, signing_key=command.signing_key, ttl_seconds=command.ttl_seconds, now=actor.now)
