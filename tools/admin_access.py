"""End an admin's access, or give them a new password (operator commands beside tools.create_admin).

    python -m tools.admin_access disable --username alice     # every token of alice stops working
    python -m tools.admin_access enable --username alice      # may log in again (old tokens stay dead)
    python -m tools.admin_access password --username alice    # prompts; or MALL_ADMIN_PASSWORD=...

Each moves the account's session version on, so tokens issued before stop working on every admin
route within a minute (each container re-reads the version at most once a minute: mall.api.auth).
Against AWS, set TABLE_NAME (the stack's TableName output) and AWS credentials; locally the Makefile
targets ``make admin-disable`` / ``make admin-enable`` / ``make admin-password`` point it at DynamoDB Local."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from mall.dal.identity import AdminRepository
from mall.dal.table import main_table
from mall.domain.identity import validate_new_password
from mall.domain.passwords import MIN_PASSWORD_LENGTH, hash_password
from mall.errors import DomainError, NotFound


def disable_admin(username: str, *, disabled: bool = True) -> int:
    """Disable (or enable) the admin; returns the new session version. ``NotFound`` if unknown."""
    return AdminRepository(main_table()).set_disabled(username, disabled)


def change_password(username: str, password: str) -> int:
    """Set a new password (checked against the policy); returns the new session version."""
    validate_new_password(password, min_length=MIN_PASSWORD_LENGTH)
    return AdminRepository(main_table()).set_password(username, hash_password(password))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["disable", "enable", "password"])
    parser.add_argument("--username", required=True)
    args = parser.parse_args(argv)
    username = args.username.strip().lower()
    try:
        if args.action == "password":
            password = os.environ.get("MALL_ADMIN_PASSWORD") or getpass.getpass("new password: ")
            version = change_password(username, password)
            print(f"admin {username!r}: password changed; tokens issued before no longer work (session {version})")
        else:
            version = disable_admin(username, disabled=args.action == "disable")
            print(f"admin {username!r} {args.action}d; tokens issued before no longer work (session {version})")
    except NotFound:
        print(f"no admin {username!r}", file=sys.stderr)
        return 1
    except DomainError as exc:
        print("; ".join(f"{f.field}: {f.reason}" for f in exc.fields) or exc.message, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
