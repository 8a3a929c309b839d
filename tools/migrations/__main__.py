"""``python -m tools.migrations [NAME] [--dry-run] [--restart] [--page-size N]``: see the package docstring."""

from __future__ import annotations

import argparse
import sys

from mall.dal.table import main_table
from tools.migrations import available, run


def main(argv: list[str] | None = None) -> int:
    migrations = available()
    parser = argparse.ArgumentParser(prog="python -m tools.migrations", description=__doc__)
    parser.add_argument("name", nargs="?", choices=sorted(migrations))
    parser.add_argument("--dry-run", action="store_true", help="count what would change; write nothing")
    parser.add_argument("--restart", action="store_true", help="scan from the start even if finished")
    parser.add_argument("--page-size", type=int, default=200)
    args = parser.parse_args(argv)
    if args.name is None:
        for name, migration in sorted(migrations.items()):
            print(f"{name}: {migration.description}")
        return 0
    progress = run(main_table(), migrations[args.name], dry_run=args.dry_run, restart=args.restart,
                   page_size=args.page_size)
    verb = "would change" if args.dry_run else "changed"
    print(f"{args.name}: scanned {progress.scanned}, {verb} {progress.changed}, pages {progress.pages}"
          + (" (already finished; --restart to run again)" if progress.pages == 0 and progress.finished else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
