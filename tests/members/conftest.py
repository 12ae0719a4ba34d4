"""Member-link tests run enishi (TestClient) against the real emulator over HTTP: link
tokens, the account-link dialog and signed accountLink webhooks are the emulator's. Most
tests send the webhooks to a recording receiver and feed them to `complete_account_link`
(checking each case precisely); test_e2e.py runs the whole loop through enishi's webhook
intake and worker (tests/e2e_support.py)."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from tests.e2e_support import start_e2e  # noqa: F401 - the whole loop, in test_e2e.py
from tests.emulator.conftest import start_emulator, webhook_receiver  # noqa: F401
from tests.members.helpers import CHANNEL


@pytest.fixture
def emulator(start_emulator, webhook_receiver):  # noqa: F811
    return start_emulator(friends=30, webhook_url=webhook_receiver.url, **CHANNEL)


@pytest.fixture
def settings(database_url, emulator):
    return make_settings(
        database_url,
        line_api_base=emulator.base_url,
        line_data_api_base=emulator.base_url,
        line_access_base=emulator.base_url,
        trust_emulator_headers=True,
    )
