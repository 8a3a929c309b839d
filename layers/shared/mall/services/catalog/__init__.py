"""Use cases of the catalog: the merchant manages categories and products; customers browse.

- ``common``: the repositories every catalog use case takes (``CatalogRepositories``) and the
  checks they share (the commission cap, the audit entry).
- ``categories``: 商品分类, created, changed and deleted by the merchant.
- ``products``: 商品, created, changed and listed by the merchant.
- ``stock``: stock adjustments and the low-stock list (库存预警), and the flag orders update.
- ``browsing``: what customers (guests too) see: lists, a product's detail, the categories.

Lists of products read one shelf partition of ``gsi1`` (never a Scan) and filter, sort and
page in memory with a keyset cursor (``mall.domain.catalog.select_page``); the reasons and
the ceiling are in docs/data-model.md, "catalog"."""
