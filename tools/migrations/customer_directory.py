"""Put every customer stored before the customer directory into it: the profile's registration
index entry (gsi2 ``CUSTOMERS``), and its search entry ``USER#<uid>/DIRECTORY`` with the phone's
keyed hash (gsi1 ``CUSTOMER_PHONE#<hash>``: the profile's ``phone_fp``, or, on a profile sealed
without one, the hash of the opened number) and the folded nickname (gsi2 ``CUSTOMER_NICK#…``).

Idempotent and resumable: only profiles without the registration entry are read (a profile
created since has it, and its phone binding writes the search entry itself); both writes are one
transaction conditional on the profile's phone and nickname being those read, so a phone bound
meanwhile is never overwritten with an older hash (that profile is left for the next run)."""

from __future__ import annotations

from mall.dal.customers import CustomerDirectory
from mall.dal.identity import phone_context
from mall.dal.table import Item, Table
from mall.domain.masking import is_erased
from mall.domain.normalise import normalise_phone
from mall.integrations import pii_crypto
from tools.migrations import Migration


def phone_hash_of(profile: Item) -> str | None:
    sealed = profile.get("phone_enc")
    if not sealed or is_erased(sealed):
        return None
    if profile.get("phone_fp"):
        return str(profile["phone_fp"])
    number = pii_crypto.decrypt(str(sealed), context=phone_context(str(profile["user_id"])))
    return pii_crypto.fingerprint(normalise_phone(number), kind="phone")


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("sk") != "PROFILE" or item.get("gsi2pk") or not item.get("user_id") or not item.get("created_at"):
        return False
    hashed = phone_hash_of(item)
    if dry_run:
        return True
    return CustomerDirectory(table).index_profile(item, phone_hash=hashed)


MIGRATION = Migration(
    name="customer_directory",
    description="index every customer for the merchant's search: registration entry, phone keyed hash, nickname",
    apply=apply,
    filter_expression="entity = :e AND attribute_not_exists(gsi2pk)",
    values={":e": "customer"},
)
