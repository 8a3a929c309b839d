"""The media bucket and its settings, as the functions that read or sign its objects take them.

Apart from ``mall.services.promotion_media`` so that a function that only signs image URLs (the
catalog) or checks uploads does not load the QR code and poster use cases at cold start."""

from __future__ import annotations

from functools import lru_cache

from mall.config import MediaSettings, load_media_settings
from mall.dal.objects import ObjectStore


@lru_cache(maxsize=1)
def media_settings() -> MediaSettings:
    return load_media_settings()


@lru_cache(maxsize=1)
def media_store() -> ObjectStore:
    """The media bucket (``MEDIA_BUCKET``); a missing variable fails the first request that needs it."""
    return ObjectStore(media_settings().require_bucket())
