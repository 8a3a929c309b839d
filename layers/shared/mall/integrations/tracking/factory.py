"""Builds the configured logistics provider (``TRACKING_PROVIDER``) from the environment and secrets."""

from __future__ import annotations

from mall.config import ConfigurationError, get_settings
from mall.integrations.tracking import TrackingProvider
from mall.integrations.tracking.kuaidi100 import Kuaidi100
from mall.secrets import get_secret


def provider_from_env() -> TrackingProvider | None:
    """The provider, or None when tracking is off (``TRACKING_PROVIDER=none``)."""
    settings = get_settings()
    if settings.tracking_provider == "none":
        return None
    return Kuaidi100(base_url=str(settings.kuaidi100_api_base), key=get_secret("kuaidi100_key"),
                     customer=get_secret("kuaidi100_customer"), salt=get_secret("kuaidi100_salt"),
                     timeout=settings.http_timeout_seconds)


def callback_url() -> str:
    url = get_settings().tracking_callback_url
    if url is None:
        raise ConfigurationError("TRACKING_CALLBACK_URL is not set: parcels cannot be subscribed")
    return str(url)
