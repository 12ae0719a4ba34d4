"""The delivery compose form as a browser posts it, for the web tests."""

from __future__ import annotations

TEXT = "{{display_name|お客様}}さん、秋のセールです https://shop.example/sale"


def compose_form(csrf: str, **fields: str) -> dict[str, str]:
    """A valid one-arm text delivery to everyone, sent now; `fields` override or add."""
    form = {
        "csrf_token": csrf,
        "name": "秋のセール",
        "arm_count": "1",
        "arm0_name": "A",
        "arm0_m0_type": "text",
        "arm0_m0_text": TEXT,
        "audience_type": "all",
        "holdout_percent": "0",
        "track_links": "friend",
        "quota_mode": "refuse",
        "timing": "now",
        "intent": "save",
    }
    return {**form, **fields}
