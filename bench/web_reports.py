"""The report pages' own work at 1,000,000 friends: everything the overview, click-analysis
and inflow-routes handlers query and compute before the template (the analysis and overview
queries of enishi.analytics included), on the segment benchmark's cached SQLite data
(bench/segment_data.py: 1,000,000 friends, 30,000,000 clicks, 2,000,000 purchases at scale 1),
opened read-only. Not timed: login, the template, the network.

    python -m bench.web_reports [--scale 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench import segment_data
from bench.segments import sqlite_database, timed
from bench.support import data_arguments, machine
from enishi.accounts.models import Account
from enishi.analytics.overview import overview
from enishi.operators.roles import Role
from enishi.web.context import AccountPage
from enishi.web.figures.overview import friends_figure, messages_figure, revenue_figure
from enishi.web.pages.clicks import _filter_options
from enishi.web.pages.clicks_form import AnalysisForm, run_analysis
from enishi.web.pages.clicks_views import frequency_view, recency_view
from enishi.web.pages.routes import _route_rows

TARGET_S = 5.0  # a report page: a few seconds at most for a million friends


def run(url: str, runs: int) -> dict:
    path = url.removeprefix("sqlite:///")
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    out: dict = {}
    with Session(engine) as session:
        account = session.get(Account, segment_data.ACCOUNT_ID)
        page = AccountPage(None, account, Role.VIEWER, "ja")  # type: ignore[arg-type]
        state = SimpleNamespace(settings=SimpleNamespace(public_base_url="https://crm.example"))
        as_of = (segment_data.NOW - timedelta(days=31)).date()

        def clicks_page():
            form = AnalysisForm(as_of=as_of)
            analysis = run_analysis(session, page, form)
            assert analysis is not None, form.errors
            recency_view(analysis, page), frequency_view(analysis, page)
            _filter_options(session, page, form)
            return {"friends": analysis.population.friends}

        def overview_page():
            last = (segment_data.NOW - timedelta(days=1)).date()
            report = overview(session, account, last - timedelta(days=29), last)
            daily = report["daily"]
            friends_figure(daily, page.t), messages_figure(daily, report["months"], page.t)
            revenue_figure(daily, page.t)
            return {"clicks": report["totals"]["clicks"]}

        def routes_page():
            rows, _pages, total = _route_rows(session, state, page, 1)  # type: ignore[arg-type]
            return {"routes": total, "friends_added": sum(r["counts"]["added"] for r in rows)}

        for name, fn in (
            ("clicks_page", clicks_page),
            ("overview_page_30_days", overview_page),
            ("routes_page", routes_page),
        ):
            figures = timed(fn, runs, __import__("time").process_time)
            figures.pop("ratio_to_1s_target", None)
            figures["ratio_to_target"] = round(figures["median_s"] / TARGET_S, 3)
            out[name] = {**figures.pop("result"), **figures}
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_arguments(parser, runs=3)
    args = parser.parse_args()
    url, _generated = sqlite_database(args.data_dir, args.scale, args.seed)
    print(json.dumps({"backend": "sqlite", **run(url, args.runs)}, ensure_ascii=False))
    print(
        f"machine: {machine()} "
        f"(other work on the machine slows every figure); scale {args.scale:g}; "
        f"target < {TARGET_S:g} s per page (ratio < 1 meets it)"
    )


if __name__ == "__main__":
    main()
