"""What a product says (商品详情): its typed attributes per kind, its description as structured
blocks, and its after-sales policy (售后政策). Pure.

Kept apart from the product's listing fields (``mall.domain.catalog``): lists read only those, the
product page reads this too (docs/catalog.md, "What a product says").

Why structured blocks and not HTML: the runtime has no maintained HTML sanitiser, and a block list
cannot carry a script, an event handler, a ``javascript:`` link or an image from anywhere but the
media bucket, since it has no markup at all: text is text, an image is a media key.

Why the terms of a service (电子合同 / 服务条款) are text and not a document: the mini-program shows
text in place (an e-contract preview with no download), it is read in full before an order, and
it is searchable and auditable as it changes with the product; nothing uploaded needs checking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mall.errors import FieldProblem

BlockType = Literal["heading", "text", "image"]
DeliveryMethod = Literal["code", "link", "account", "manual"]  # 卡密 / 链接 / 直充 / 人工发放
ReturnShippingPayer = Literal["buyer", "merchant"]

BLOCK_TYPES: tuple[BlockType, ...] = ("heading", "text", "image")
MAX_BLOCKS = 50
MAX_HEADING = 60
MAX_TEXT = 2000
MAX_ITINERARY_STEPS = 30
#: 7天无理由退货: the window such a promise needs at least.
NO_REASON_RETURN_DAYS = 7
MAX_RETURN_WINDOW_DAYS = 90

#: Which attribute belongs to which kind of product (a product's ``type``).
ATTRIBUTES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "physical": ("weight_g", "origin", "shelf_life_days"),
    "service": ("itinerary", "restrictions", "terms_title", "terms_text"),
    "virtual": ("delivery_method", "delivery_note"),
}


@dataclass(frozen=True, slots=True)
class ProductAttributes:
    """Typed attributes; each belongs to one kind (``ATTRIBUTES_BY_TYPE``), None / empty when unset."""

    weight_g: int | None = None
    origin: str | None = None
    shelf_life_days: int | None = None
    itinerary: tuple[str, ...] = ()
    restrictions: str | None = None
    terms_title: str | None = None
    terms_text: str | None = None
    delivery_method: DeliveryMethod | None = None
    delivery_note: str | None = None

    def set_names(self) -> list[str]:
        return [name for name in self.__slots__ if getattr(self, name) not in (None, ())]

    def as_dict(self) -> dict[str, Any]:
        """Only the attributes set (the stored and the returned shape)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name in self.set_names() for value in [getattr(self, name)]}


@dataclass(frozen=True, slots=True)
class ContentBlock:
    """One block of the description: a heading or a paragraph (``text``), or an image (``key``, a
    verified media-bucket key)."""

    type: BlockType
    text: str = ""
    key: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "key": self.key} if self.type == "image" else {"type": self.type, "text": self.text}


@dataclass(frozen=True, slots=True)
class AfterSalesPolicy:
    """售后政策. ``no_reason_return``: 7天无理由退货; ``return_window_days``: how long after receipt a
    return is accepted (0: none beyond the law's quality guarantee); ``return_shipping_paid_by``:
    who pays the return postage of a no-reason return."""

    no_reason_return: bool
    return_window_days: int
    return_shipping_paid_by: ReturnShippingPayer = "buyer"
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"no_reason_return": self.no_reason_return, "return_window_days": self.return_window_days,
                "return_shipping_paid_by": self.return_shipping_paid_by, "note": self.note}


def default_after_sales(product_type: str) -> AfterSalesPolicy:
    """What a product without its own policy shows: goods sold online take 7天无理由退货 (消费者权益
    保护法 第二十五条) with the buyer paying the return postage; services and virtual goods are
    consumed, not returned, so the merchant states their refund terms."""
    if product_type == "physical":
        return AfterSalesPolicy(no_reason_return=True, return_window_days=NO_REASON_RETURN_DAYS)
    return AfterSalesPolicy(no_reason_return=False, return_window_days=0, return_shipping_paid_by="merchant")


@dataclass(frozen=True, slots=True)
class ProductContent:
    """Everything the product page says beyond the listing. ``after_sales`` None: the default
    policy of the product's kind (``default_after_sales``)."""

    attributes: ProductAttributes = field(default_factory=ProductAttributes)
    blocks: tuple[ContentBlock, ...] = ()
    after_sales: AfterSalesPolicy | None = None

    def image_keys(self) -> list[tuple[str, str]]:
        """(field, key) of every image block, for the check that each is a verified upload."""
        return [(f"content.{i}.key", b.key) for i, b in enumerate(self.blocks) if b.type == "image"]

    def policy(self, product_type: str) -> AfterSalesPolicy:
        return self.after_sales or default_after_sales(product_type)

    def as_dict(self) -> dict[str, Any]:
        return {"attributes": self.attributes.as_dict(), "blocks": [b.as_dict() for b in self.blocks],
                "after_sales": self.after_sales.as_dict() if self.after_sales else None}


def content_from_dict(data: dict[str, Any] | None) -> ProductContent:
    """The stored shape back (``ProductContent.as_dict``); an absent item is the empty content."""
    if not data:
        return ProductContent()
    attrs = dict(data.get("attributes") or {})
    if "itinerary" in attrs:
        attrs["itinerary"] = tuple(str(s) for s in attrs["itinerary"])
    for number in ("weight_g", "shelf_life_days"):
        if attrs.get(number) is not None:
            attrs[number] = int(attrs[number])
    policy = data.get("after_sales")
    return ProductContent(
        attributes=ProductAttributes(**attrs),
        blocks=tuple(ContentBlock(type=b["type"], text=str(b.get("text", "")), key=str(b.get("key", "")))
                     for b in data.get("blocks") or []),
        after_sales=None if not policy else AfterSalesPolicy(
            no_reason_return=bool(policy["no_reason_return"]), return_window_days=int(policy["return_window_days"]),
            return_shipping_paid_by=policy.get("return_shipping_paid_by", "buyer"), note=str(policy.get("note", ""))))


def content_problems(product_type: str, content: ProductContent) -> list[FieldProblem]:
    """Rules that depend on the product's kind or tie fields together (ranges and lengths are the
    request model's): an attribute of another kind, an image block without a key, a 7-day promise
    with a shorter window."""
    problems: list[FieldProblem] = []
    allowed = ATTRIBUTES_BY_TYPE.get(product_type, ())
    for name in content.attributes.set_names():
        if name not in allowed:
            kinds = [kind for kind, names in ATTRIBUTES_BY_TYPE.items() if name in names]
            problems.append(FieldProblem(f"attributes.{name}", f"only for {' or '.join(kinds)} products, "
                                                               f"not {product_type}"))
    terms = content.attributes
    if (terms.terms_title is None) != (terms.terms_text is None):
        missing = "terms_text" if terms.terms_text is None else "terms_title"
        problems.append(FieldProblem(f"attributes.{missing}", "terms need both a title and a text"))
    for i, block in enumerate(content.blocks):
        if block.type == "image" and not block.key:
            problems.append(FieldProblem(f"content.{i}.key", "an image block needs a media-bucket key"))
        if block.type != "image" and not block.text.strip():
            problems.append(FieldProblem(f"content.{i}.text", f"a {block.type} block needs text"))
        if block.type == "heading" and len(block.text) > MAX_HEADING:
            problems.append(FieldProblem(f"content.{i}.text", f"a heading has at most {MAX_HEADING} characters"))
        if (block.type == "image" and block.text) or (block.type != "image" and block.key):
            problems.append(FieldProblem(f"content.{i}", "an image block has only a key, a text block only text"))
    policy = content.after_sales
    if policy is not None and policy.no_reason_return and policy.return_window_days < NO_REASON_RETURN_DAYS:
        problems.append(FieldProblem("after_sales.return_window_days",
                                     f"at least {NO_REASON_RETURN_DAYS} days when no_reason_return (7天无理由) "
                                     "is promised"))
    return problems
