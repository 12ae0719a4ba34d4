"""Inflow-route tests run enishi (TestClient) against the real emulator over HTTP: its
bot info gives the basic ID, its /oauth2/v2.1/verify checks the ID tokens its control
route issues, and its virtual users follow and block."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from tests.e2e_support import start_e2e  # noqa: F401 - the whole loop, in test_e2e.py
from tests.emulator.conftest import start_emulator, webhook_receiver  # noqa: F401
from tests.members.helpers import CHANNEL


@pytest.fixture
def emulator(start_emulator, webhook_receiver):  # noqa: F811
    return start_emulator(friends=5, webhook_url=webhook_receiver.url, **CHANNEL)


@pytest.fixture
def settings(database_url, emulator):
    return make_settings(
        database_url,
        public_base_url="https://crm.example.jp",
        line_api_base=emulator.base_url,
        line_data_api_base=emulator.base_url,
        line_access_base=emulator.base_url,
    )
