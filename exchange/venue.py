"""The venue's interface, kept importable here; it lives in :mod:`exchange.service`."""

from __future__ import annotations

from .service import (
    ORDER_FIELDS,
    OfflineVenue,
    Subscriber,
    Venue,
    VenueConfig,
    create_product_command,
    open_offline,
    parse_place,
    recover_engine,
)

__all__ = [
    "ORDER_FIELDS",
    "OfflineVenue",
    "Subscriber",
    "Venue",
    "VenueConfig",
    "create_product_command",
    "open_offline",
    "parse_place",
    "recover_engine",
]
