"""Keys of coupons (优惠券): the merchant's templates, each user's claimed coupons and their claim
counters (docs/data-model.md, "coupons")."""

from __future__ import annotations

from mall.dal.keys.users import user_partition
from mall.dal.table import Key

#: One partition holds every template (a merchant keeps tens, not thousands): one Query lists them.
COUPON_TEMPLATES_PARTITION = "COUPON_TEMPLATES"
#: Sort-key prefix of a user's claimed coupons in their ``USER#`` partition.
USER_COUPON_PREFIX = "COUPON#"


def coupon_template_key(template_id: str) -> Key:
    return {"pk": COUPON_TEMPLATES_PARTITION, "sk": f"TEMPLATE#{template_id}"}


def user_coupon_key(user_id: str, coupon_id: str) -> Key:
    return {"pk": user_partition(user_id), "sk": f"{USER_COUPON_PREFIX}{coupon_id}"}


def coupon_claims_key(user_id: str, template_id: str) -> Key:
    """How many coupons of a template the user holds (their per-user limit's counter)."""
    return {"pk": user_partition(user_id), "sk": f"COUPON_CLAIMS#{template_id}"}
