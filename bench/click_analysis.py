"""Click recency / frequency analysis speed (issue 5, seed 000) on the segment benchmark's
account: 1,000,000 friends, 30,000,000 clicks, 2,000,000 purchases at scale 1.

The data is bench/segment_data.py's, generated once and cached exactly as bench/segments.py
does (same cache key, so either benchmark reuses the other's data). Timed: each analysis
query the API runs (recency, frequency; with the default historical as-of and 30-day
outcome window, as of the data's last day, and filtered to one link) and the overview over
30 and 90 days, warm, median of runs,
with the CPU time of whoever runs the query (this process for SQLite, the server backend for
PostgreSQL) — which a busy machine inflates far less than wall time.

    python -m bench.click_analysis [--scale 0.1] [--backend sqlite|postgresql|both] [--runs 5]
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from sqlalchemy.orm import Session

from bench import segment_data
from bench.segments import _cpu_meter, cached_database, timed
from bench.support import data_arguments, machine, run_on_backends
from enishi.accounts.models import Account
from enishi.analytics.click_segments import ClickFilter
from enishi.analytics.clicks import ClickAnalysisParams, analyse_clicks
from enishi.analytics.overview import overview
from enishi.db.engine import make_engine

TARGET_S = 5.0  # an analysis page: a few seconds at most for a million friends

# (name, kind, params); as-of = the data's last moment (NOW) minus whole days
CASES = (
    ("recency_default", "recency", {"as_of_days_back": 30}),
    ("frequency_default", "frequency", {"as_of_days_back": 30}),
    ("recency_as_of_last_day", "recency", {"as_of_days_back": 0, "outcome": "period"}),
    ("frequency_as_of_last_day", "frequency", {"as_of_days_back": 0, "outcome": "period"}),
    ("recency_180_days", "recency", {"as_of_days_back": 30, "lookback_days": 180}),
    ("recency_one_link", "recency", {"as_of_days_back": 30, "link_id": 5}),
    ("frequency_one_link", "frequency", {"as_of_days_back": 30, "link_id": 5}),
)
# the overview over the last 30 and 90 days of the data (clicks and purchases per day; the
# benchmark data has no follow history, member links or sends)
OVERVIEW_DAYS = (30, 90)


def params_for(options: dict) -> ClickAnalysisParams:
    options = dict(options)
    as_of = segment_data.NOW - timedelta(days=options.pop("as_of_days_back"))
    link = options.pop("link_id", None)
    return ClickAnalysisParams(as_of=as_of, click_filter=ClickFilter(link_id=link), **options)


def run_backend(backend: str, url: str, runs: int) -> dict:
    engine = make_engine(url)
    out: dict = {"backend": backend}
    with Session(engine) as session:
        account = session.get(Account, segment_data.ACCOUNT_ID)
        cpu = _cpu_meter(session, backend)
        for name, kind, options in CASES:
            params = params_for(options)

            def analyse(params=params, kind=kind):
                analysis = analyse_clicks(session, account, params, (kind,))
                session.rollback()  # end the transaction (SET LOCAL jit on PostgreSQL)
                cut = (
                    analysis.recency_falloff()
                    if kind == "recency"
                    else analysis.frequency_threshold()
                )
                return {
                    "friends": analysis.population.friends,
                    "cut": None if cut is None else cut.cut,
                }

            figures = timed(analyse, runs, cpu)
            figures["ratio_to_target"] = round(figures["median_s"] / TARGET_S, 3)
            figures.pop("ratio_to_1s_target")
            out[name] = {**figures.pop("result"), **figures}
        for days in OVERVIEW_DAYS:
            last = (segment_data.NOW - timedelta(days=1)).date()

            def summary(first=last - timedelta(days=days - 1), last=last):
                report = overview(session, account, first, last)
                session.rollback()
                return {"friends": report["totals"]["following_end"], "cut": None}

            figures = timed(summary, runs, cpu)
            figures["ratio_to_target"] = round(figures["median_s"] / TARGET_S, 3)
            figures.pop("ratio_to_1s_target")
            out[f"overview_{days}_days"] = {**figures.pop("result"), **figures}
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_arguments(parser, runs=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    results = run_on_backends(args, cached_database, run_backend)
    print(
        f"machine: {machine()} "
        f"(other work on the machine slows every figure); scale {args.scale:g}; "
        f"target < {TARGET_S:g} s per analysis (ratio < 1 meets it)"
    )
    for result in results:
        for name in [c[0] for c in CASES] + [f"overview_{d}_days" for d in OVERVIEW_DAYS]:
            figures = result[name]
            print(
                f"{result['backend']:>10} {name:>26}: {figures['median_s']:.2f} s "
                f"(CPU {figures['cpu_median_s']:.2f} s, ratio {figures['ratio_to_target']:.2f}),"
                f" {figures['friends']:,} friends, cut {figures['cut']}"
            )


if __name__ == "__main__":
    main()
