"""Logistics providers (物流查询): subscribe a parcel, query it when a person asks, and verify and read
the provider's signed pushes. ``TrackingProvider`` is what the services use; ``provider_from_env``
builds the configured one (``TRACKING_PROVIDER``, Kuaidi100 by default). Another provider is one more
module implementing the protocol and one more branch in ``provider_from_env``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from mall.domain.tracking import Parcel, Trail
from mall.errors import UpstreamUnavailable


class TrackingProviderError(UpstreamUnavailable):
    """The provider refused or could not be reached (the queue retries; an admin sees the message)."""

    code = "tracking_provider_unavailable"


class TrackingProvider(Protocol):
    name: str

    def subscribe(self, parcel: Parcel, *, callback_url: str, phone: str | None) -> None:
        """Ask the provider to push every change of ``parcel`` to ``callback_url`` (a repeat is fine)."""
        ...

    def query(self, parcel: Parcel, *, phone: str | None) -> Trail:
        """The parcel's trail now (real-time query: billed and rate-limited, only when a person asks)."""
        ...

    def verify_push(self, form: Mapping[str, str]) -> Trail:
        """Verify a push's signature first, then read its trail. Raises ``Unauthenticated`` (bad or
        missing signature) or ``InvalidInput`` (signed but unreadable)."""
        ...

    def acknowledgement(self) -> dict[str, object]:
        """The body the provider expects back once a push is stored."""
        ...
