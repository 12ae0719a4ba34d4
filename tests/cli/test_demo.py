"""`enishi demo --exit` end to end: enishi records exactly what the emulator's virtual friends
lived, its deliveries sit in the simulated history, the printed login opens the dashboard,
and a second run reuses the demo."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta

import httpx
from rich.console import Console
from sqlalchemy import func, select

from enishi.app import build_state, create_app
from enishi.cli.demo import DemoOptions, run_demo
from enishi.cli.demo_enishi import DemoFiles, demo_settings
from enishi.db.base import utcnow
from enishi.delivery.models import Delivery, DeliveryRecipient
from enishi.tracking.models import Click
from tests.servers import ReservedPort, ServerThread, free_port

FIELDS = {  # emulator ground truth -> enishi's record
    "friends": "friends",
    "following": "following",
    "blocked": "blocked",
    "with_route": "with_route",
    "members_linked": "members_linked",
    "delivery_clicks": "delivery_clicks",
    "orders": "conversions",
    "revenue_jpy": "revenue_jpy",
}


def _run(options: DemoOptions):
    out = io.StringIO()
    result = asyncio.run(run_demo(options, Console(file=out, width=160)))
    return result, out.getvalue()


def _printed_login(text: str) -> tuple[str, str]:
    email = re.search(r"email\s+(\S+@\S+)", text)
    password = re.search(r"password\s+(\S+)", text)
    assert email and password, text
    return email.group(1), password.group(1)


def _overview_after_login(settings, email: str, password: str) -> httpx.Response:
    reserved = ReservedPort()
    app = create_app(
        settings.model_copy(update={"public_base_url": reserved.base_url}), run_worker=False
    )
    server = ServerThread(app, reserved).begin()
    try:
        with httpx.Client(base_url=reserved.base_url, timeout=30) as client:
            form = client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
            assert csrf, form.text
            client.post(
                "/login",
                data={
                    "email": email,
                    "password": password,
                    "next": "/",
                    "csrf_token": csrf.group(1),
                },
            )
            return client.get("/", follow_redirects=True)
    finally:
        server.stop(timeout=30)


def test_demo_records_the_simulated_history_and_its_login_works(database_url, tmp_path):
    options = DemoOptions(
        directory=tmp_path / "demo",
        port=free_port(),
        emulator_port=free_port(),
        friends=300,
        days=20,
        exit_after=True,
        database_url=database_url,
    )
    result, text = _run(options)
    truth, stored = result.truth, result.recorded

    # every friend, block, route, member link, click and order reached enishi
    assert truth["friends"] == 300
    assert truth["orders_reported"] == truth["orders"]
    for emulated, recorded in FIELDS.items():
        assert getattr(stored, recorded) == truth[emulated], emulated
    assert truth["with_route"] > 0 and truth["members_linked"] > 0
    assert truth["delivery_clicks"] > 0 and truth["orders"] > 0
    assert 0 < stored.attributed <= stored.conversions

    # weekly deliveries sent by enishi's engine, dated in the simulated history
    assert stored.deliveries == len(result.delivery_ids) == 3
    files = DemoFiles.load(options.directory / "demo.json")
    assert files is not None
    settings = demo_settings(database_url, files.secret_key, options.port, "http://127.0.0.1:9")
    state = build_state(settings)
    try:
        with state.sessions() as session:
            for delivery in session.scalars(select(Delivery)):
                assert delivery.status == "done"
                first_click = session.scalar(
                    select(func.min(Click.clicked_at)).where(Click.delivery_id == delivery.id)
                )
                first_sent, last_sent = session.execute(
                    select(
                        func.min(DeliveryRecipient.sent_at), func.max(DeliveryRecipient.sent_at)
                    ).where(DeliveryRecipient.delivery_id == delivery.id)
                ).one()
                assert delivery.started_at < utcnow() - timedelta(days=1)
                assert delivery.started_at <= first_sent <= last_sent <= delivery.finished_at
                if first_click is not None:
                    assert delivery.started_at <= first_click
    finally:
        state.close()

    # the printed login opens the dashboard's overview
    email, password = _printed_login(text)
    assert (email, password) == (files.email, files.password)
    overview = _overview_after_login(settings, email, password)
    assert overview.status_code == 200
    assert overview.url.path.endswith("/overview")

    # a second run reuses the demo: same friends and deliveries, same login
    again, text_again = _run(options)
    assert again.reused
    assert again.recorded.friends == stored.friends
    assert again.recorded.deliveries == stored.deliveries
    assert _printed_login(text_again) == (email, password)
