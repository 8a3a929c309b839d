"""Create a merchant admin account (the first one, or another).

    python -m tools.create_admin --username alice            # prompts for the password
    MALL_ADMIN_PASSWORD=... python -m tools.create_admin --username alice

Disabling an admin or changing their password: ``tools.admin_access``.
Against AWS, set TABLE_NAME (the stack's TableName output) and AWS credentials; locally
the Makefile target ``make admin`` points it at DynamoDB Local."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys

from mall.clock import utc_now
from mall.dal.identity import AdminRepository
from mall.dal.table import main_table
from mall.domain.identity import USERNAME_PATTERN, AdminAccount, validate_new_password
from mall.domain.passwords import MIN_PASSWORD_LENGTH, hash_password
from mall.errors import Conflict, DomainError


def ensure_admin(username: str, password: str, *, display_name: str = "") -> bool:
    """Create the admin if it does not exist. Returns True when created."""
    repo = AdminRepository(main_table())
    if repo.get(username) is not None:
        return False
    account = AdminAccount(username=username, password_hash=hash_password(password), created_at=utc_now(),
                           display_name=display_name)
    try:
        repo.create(account)
    except Conflict:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--username", required=True)
    parser.add_argument("--display-name", default="")
    args = parser.parse_args(argv)
    username = args.username.strip().lower()
    if not re.match(USERNAME_PATTERN, username):
        print(f"username must match {USERNAME_PATTERN}", file=sys.stderr)
        return 2
    password = os.environ.get("MALL_ADMIN_PASSWORD") or getpass.getpass("password: ")
    try:
        validate_new_password(password, min_length=MIN_PASSWORD_LENGTH)
    except DomainError as exc:
        print("; ".join(f"{f.field}: {f.reason}" for f in exc.fields), file=sys.stderr)
        return 2
    if not ensure_admin(username, password, display_name=args.display_name):
        print(f"admin {username!r} already exists", file=sys.stderr)
        return 1
    print(f"admin {username!r} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
