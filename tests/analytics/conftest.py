"""Analytics fixtures: the app trusts the emulator's click-time header, so the test worlds'
clicks go through the real click endpoint at chosen times."""

from __future__ import annotations

import pytest

from enishi.config import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url) -> Settings:
    return make_settings(database_url, trust_emulator_headers=True)
