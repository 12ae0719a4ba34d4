"""The friend rollups derived from tracking's tables: last click and click count; last
purchase, purchase count and lifetime revenue (registered in enishi/wiring.py)."""

from __future__ import annotations

from enishi.friends.rollups import Rollup
from enishi.tracking.models import Click, Conversion

ROLLUPS = (
    Rollup("clicks", Click, Click.clicked_at, "last_click_at", "click_count"),
    Rollup(
        "purchases",
        Conversion,
        Conversion.occurred_at,
        "last_purchase_at",
        "purchase_count",
        ("revenue_jpy", Conversion.amount_jpy),
    ),
)
