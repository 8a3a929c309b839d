"""Import products' old image URLs into the media bucket, once (docs/security.md, "product images").

    python -m tools.import_product_images [--dry-run] [--restart]

Against AWS: TABLE_NAME and MEDIA_BUCKET (the stack's outputs) and the deploying account's
credentials; locally ``make migrate NAME=product_image_keys`` runs the same migration. The only
fetch of a typed address anywhere in the project, through ``tools.image_fetch.GuardedFetcher``.
Resumable: it is the ``product_image_keys`` migration (tools/migrations) with a report of the
URLs it could not import — those products need their images uploaded again."""

from __future__ import annotations

import argparse
import json
import os
import sys

from mall.dal.objects import ObjectStore
from mall.dal.table import main_table
from tools.migrations import Migration, run
from tools.migrations.product_image_keys import MIGRATION, Importer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.import_product_images", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="count the products that hold URLs; fetch nothing")
    parser.add_argument("--restart", action="store_true", help="scan again from the start")
    args = parser.parse_args(argv)
    bucket = os.environ.get("MEDIA_BUCKET")
    if not bucket:
        print("MEDIA_BUCKET is not set (the stack's media bucket)", file=sys.stderr)
        return 2
    importer = Importer(ObjectStore(bucket))
    migration = Migration(name=MIGRATION.name, description=MIGRATION.description, apply=importer.apply,
                          filter_expression=MIGRATION.filter_expression, values=MIGRATION.values)
    progress = run(main_table(), migration, dry_run=args.dry_run, restart=args.restart)
    print(json.dumps({"scanned": progress.scanned, "changed": progress.changed, "dry_run": args.dry_run,
                      "to_reupload": importer.report}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
