"""Which admin operations the console reaches through its typed client, read from its sources.

The list below is every admin operation that has no page yet: a page that starts calling one must
take it off the list, and a new admin operation must either get its page or go on the list, so the
console's coverage of the API is always written down here."""

from __future__ import annotations

import json
import re

from tests.conftest import ROOT

CONSOLE = ROOT / "console" / "src"
#: ``api().get("/admin/...")`` and friends; the path is the contract's template, typed by the client.
_CALL = re.compile(r"""\.(get|post|put|delete|patch)\(\s*["'](/[^"']+)["']""")

#: Admin operations served to the API only so far (no console page yet).
NOT_REACHED_YET: set[str] = set()


def operations() -> set[str]:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    return {f"{method.upper()} {path}" for path, methods in document["paths"].items() for method in methods}


def admin_operations() -> set[str]:
    return {op for op in operations() if op.split(" ", 1)[1].startswith("/admin/") and op != "POST /admin/auth/login"}


def reached_by_console() -> set[str]:
    found: set[str] = set()
    for path in sorted(CONSOLE.rglob("*")):
        in_client = path.relative_to(CONSOLE).parts[0] == "api"  # the client itself, and its examples
        if path.suffix not in (".ts", ".vue") or path.name.endswith(".d.ts") or in_client:
            continue
        for method, route in _CALL.findall(path.read_text(encoding="utf-8")):
            found.add(f"{method.upper()} {route}")
    return found


def test_every_admin_operation_is_reached_by_the_console_or_listed_as_not_yet() -> None:
    reached = reached_by_console()
    unknown = sorted(reached - operations())
    assert unknown == [], "the console calls operations the contract does not have"
    missing = sorted(admin_operations() - reached)
    assert missing == sorted(NOT_REACHED_YET), (
        "admin operations without a console page changed: update NOT_REACHED_YET\n" + "\n".join(missing))
