"""Examples for the catalog models (``json_schema_extra``): one tea shop's catalogue, as the API
answers it. Kept apart so ``mall.schemas.catalog`` reads as the models alone."""

from __future__ import annotations

from pydantic.config import JsonDict, JsonValue

COVER_KEY = "product-images/8fb36d4e020e267318b40af47f492d54.jpg"
COVER_URL = ("https://mall-prod-mediabucket-1q8z4k7w2m5x.s3.amazonaws.com/" + COVER_KEY
              + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAQ3EGVXK4EXAMPLE7%2F20261120%2Fap-east-1%2Fs3"
                "%2Faws4_request&X-Amz-Date=20261120T030000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
                "&X-Amz-Signature=335e921b962454378671388cfc53959b554cee41547c6f697b84e18301ff7b84")
CATEGORY: JsonDict = {
    "category_id": "c_01m4ckt9rbte01pz24dawc", "name": "茶叶", "sort": 1, "l1_rate_bp": 1200, "l2_rate_bp": 600,
    "product_count": 12, "version": 3, "created_at": "2026-10-08T02:00:00Z", "updated_at": "2026-10-21T06:33:10Z"}
TEAWARE: JsonDict = {
    "category_id": "c_01m4ckx1mddwmtkz7dctt4", "name": "茶具", "sort": 2, "l1_rate_bp": None, "l2_rate_bp": None,
    "product_count": 5, "version": 1, "created_at": "2026-10-08T02:01:30Z", "updated_at": "2026-10-08T02:01:30Z"}
ADMIN_PRODUCT: JsonDict = {
    "product_id": "p_01m4cmckqvx119jymzac3w", "name": "西湖龙井 250g", "type": "physical",
    "category_id": "c_01m4ckt9rbte01pz24dawc", "images": [COVER_KEY],
    "description": "明前特级龙井, 杭州西湖产区, 罐装 250g", "price_fen": 16800, "stock": 96, "sales": 24,
    "shipping_fee_fen": 800, "per_user_limit": 5, "on_shelf": True, "low_stock_threshold": 10, "low_on_stock": False,
    "distribution_enabled": True, "commission": {"mode": "inherit", "l1": 0, "l2": 0}, "version": 4,
    "created_at": "2026-10-08T02:10:00Z", "updated_at": "2026-10-21T06:40:12Z",
    "on_shelf_at": None, "off_shelf_at": "2026-12-31T15:59:59Z", "hot_rank": 10, "specs": [], "skus": []}
GAIWAN: JsonDict = {
    "product_id": "p_01m4cmyx52990zhvaddmkr", "name": "白瓷盖碗 150ml", "type": "physical",
    "category_id": "c_01m4ckx1mddwmtkz7dctt4", "images": ["product-images/5e0b7a13c9d24f68a1e3b2c4d5f60718.jpg"],
    "description": "德化白瓷, 一盖一碗一托", "price_fen": 6800, "stock": 4, "sales": 46, "shipping_fee_fen": 1000,
    "per_user_limit": None, "on_shelf": True, "low_stock_threshold": 5, "low_on_stock": True,
    "distribution_enabled": True, "commission": {"mode": "fixed", "l1": 500, "l2": 200}, "version": 7,
    "created_at": "2026-10-08T02:20:00Z", "updated_at": "2026-11-18T09:02:44Z",
    "on_shelf_at": None, "off_shelf_at": None, "hot_rank": 0, "specs": [], "skus": []}
SUMMARY: JsonDict = {
    "product_id": "p_01m4cmckqvx119jymzac3w", "name": "西湖龙井 250g", "type": "physical",
    "category_id": "c_01m4ckt9rbte01pz24dawc", "cover_image": COVER_KEY, "cover_image_url": COVER_URL,
    "price_fen": 16800, "shipping_fee_fen": 800, "stock": 96, "sales": 24, "hot": True, "max_price_fen": None,
    "promoter_earn_max_fen": None,
    "cover_thumbnail_url": COVER_URL.replace("product-images/8fb36d4e020e267318b40af47f492d54.jpg",
                                              "product-thumbs/8fb36d4e020e267318b40af47f492d54-w240.jpg")}
PAGE_THUMB_URL = COVER_URL.replace("product-images/8fb36d4e020e267318b40af47f492d54.jpg",
                                     "product-thumbs/8fb36d4e020e267318b40af47f492d54-w750.jpg")
TEA_ATTRIBUTES: JsonDict = {
    "weight_g": 250, "origin": "浙江杭州西湖", "shelf_life_days": 540, "itinerary": None, "restrictions": None,
    "terms_title": None, "terms_text": None, "delivery_method": None, "delivery_note": None}
TEA_IMAGE_BLOCK: JsonDict = {"type": "image", "text": None, "key": COVER_KEY, "url": None, "thumbnail_url": None}
TEA_BLOCKS: list[JsonValue] = [
    {"type": "heading", "text": "产地与工艺", "key": None, "url": None, "thumbnail_url": None},
    {"type": "text", "text": "狮峰山明前一芽一叶, 手工炒制。", "key": None, "url": None, "thumbnail_url": None},
    TEA_IMAGE_BLOCK]
TEA_AFTER_SALES: JsonDict = {"no_reason_return": True, "return_window_days": 7, "return_shipping_paid_by": "buyer",
                              "note": "密封包装拆封后不退", "is_default": False}
UNREAD_CONTENT: JsonDict = {"attributes": None, "content": None, "after_sales": None}
