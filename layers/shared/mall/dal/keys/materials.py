"""Materials center keys (素材中心): one item per material, all listed on gsi1 ``MATERIALS`` under a
sort key that starts with its scope, so a promoter's list for a product is two prefix queries
(the product's and the general ones)."""

from __future__ import annotations

from mall.dal.table import Key

MATERIALS_PARTITION = "MATERIALS"
#: The scope prefix of general materials (offered with every product).
GENERAL_SCOPE = "G#"


def material_key(material_id: str) -> Key:
    """``MATERIAL#<id>`` / ``MATERIAL``."""
    return {"pk": f"MATERIAL#{material_id}", "sk": "MATERIAL"}


def material_scope(product_id: str | None) -> str:
    """The gsi1 sort-key prefix of a scope: ``G#`` (general) or ``P#<product id>#``."""
    return GENERAL_SCOPE if product_id is None else f"P#{product_id}#"


def material_sort_key(product_id: str | None, kind: str, material_id: str) -> str:
    """``<scope><kind>#<id>`` on gsi1 ``MATERIALS``."""
    return f"{material_scope(product_id)}{kind}#{material_id}"
