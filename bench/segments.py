"""Segment count speed (issue 4): on an account of 1,000,000 friends with 30,000,000 clicks
and 2,000,000 purchases, a segment combining attributes, click recency / frequency and RFM
counts in under 1 s on SQLite and on PostgreSQL (warm, median of several runs).

The data (bench/segment_data.py, seeded) is generated once per scale and schema and cached:
the SQLite file under the bench data dir, the PostgreSQL database by name. Reruns reuse it.

    python -m bench.segments [--scale 0.1] [--backend sqlite|postgresql|both] [--runs 7]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench import segment_data
from bench.support import PG_ADMIN_URL, data_arguments, machine, run_on_backends
from enishi.db.engine import make_engine
from enishi.models import Base
from enishi.segments.service import count_segment, preview
from enishi.wiring import wire

ROOT = Path(__file__).resolve().parents[1]
TABLES = (*segment_data.COLUMNS, "attribute_defs", "tags")
TARGET_S = 1.0

# the timed segment: attributes + click recency + click frequency + RFM
COMBINED = {
    "version": 1,
    "where": {
        "all": [
            {"attribute": {"key": "gender", "eq": "female"}},
            {"attribute": {"key": "age", "between": [20, 39]}},
            {"clicked": {"within_days": 50}},
            {"click_count": {"gte": 3, "within_days": 90}},
            {"purchased": {"within_days": 180}},
            {"purchase_count": {"gte": 2}},
            {"revenue": {"gte": 10000, "within_days": 365}},
        ]
    },
}
# also reported: seed 000's two groups, and an "any" of behaviours
OTHERS = {
    "clicked_within_50d": {"version": 1, "where": {"clicked": {"within_days": 50}}},
    "clicked_51d_plus_buyers": {
        "version": 1,
        "where": {"all": [{"clicked": {"not_within_days": 50}}, {"purchase_count": {"gte": 1}}]},
    },
    "cart_abandoned_2d_no_purchase": {
        "version": 1,
        "where": {"event": {"name": "cart_abandoned", "within_days": 2, "no_purchase_since": True}},
    },
    "any_of_behaviours": {
        "version": 1,
        "where": {
            "any": [
                {"click_count": {"gte": 10, "within_days": 30}},
                {"revenue": {"gte": 30000, "within_days": 90}},
                {"bought": {"sku": "SKU-007", "within_days": 30}},
            ]
        },
    },
}


def data_key(scale: float, seed: int) -> str:
    """Changes when the generator or the tables it fills change (columns, indexes), so a
    stale cache is never used — and only then, not on every change to other tables."""
    digest = hashlib.sha256((ROOT / "bench/segment_data.py").read_bytes())
    for name in sorted(TABLES):
        table = Base.metadata.tables[name]
        digest.update(repr([(c.name, str(c.type), c.nullable) for c in table.columns]).encode())
        digest.update(
            repr(sorted((i.name, [c.name for c in i.columns]) for i in table.indexes)).encode()
        )
    return f"s{scale:g}_seed{seed}_{digest.hexdigest()[:10]}".replace(".", "p")


def sqlite_database(data_dir: Path, scale: float, seed: int) -> tuple[str, float | None]:
    path = data_dir / f"segments_{data_key(scale, seed)}.db"
    if path.exists():
        return f"sqlite:///{path}", None
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.db")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    counts = segment_data.load_sqlite(partial, scale, seed)
    partial.rename(path)
    elapsed = time.perf_counter() - started
    print(f"sqlite data generated in {elapsed:.0f} s: {counts}")
    return f"sqlite:///{path}", elapsed


def postgres_database(scale: float, seed: int) -> tuple[str, float | None]:
    name = f"enishi_bench_segments_{data_key(scale, seed)}"
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    admin = make_engine(PG_ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        note = conn.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"
            ),
            {"n": name},
        ).first()
        if note is not None and note[0] == "complete":
            admin.dispose()
            return url, None
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    started = time.perf_counter()
    counts = segment_data.load_postgres(url, scale, seed)
    elapsed = time.perf_counter() - started
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS 'complete'"))
    admin.dispose()
    print(f"postgresql data generated in {elapsed:.0f} s: {counts}")
    return url, elapsed


def cached_database(backend: str, args: argparse.Namespace) -> tuple[str, float | None]:
    """The data at `args.scale` and `args.seed` on `backend`, generated on first use: (url,
    seconds spent generating it or None when cached)."""
    if backend == "sqlite":
        return sqlite_database(args.data_dir, args.scale, args.seed)
    return postgres_database(args.scale, args.seed)


def timed(fn, runs: int, cpu) -> dict:
    """Warm once, then `runs` runs: wall-clock median, and the median CPU time the database
    spent (this process for SQLite, the server backend for PostgreSQL) — which a busy
    machine inflates far less than wall time."""
    result = fn()  # warm the cache
    walls, cpus = [], []
    for _ in range(runs):
        started, used = time.perf_counter(), cpu()
        result = fn()
        walls.append(time.perf_counter() - started)
        cpus.append(cpu() - used)
    median = statistics.median(walls)
    return {
        "median_s": round(median, 4),
        "runs_s": [round(t, 3) for t in walls],
        "cpu_median_s": round(statistics.median(cpus), 4),
        "ratio_to_1s_target": round(median / TARGET_S, 3),
        "result": result,
    }


def _cpu_meter(session: Session, backend: str):
    """Cumulative CPU seconds of whoever runs the queries."""
    if backend == "sqlite":
        return time.process_time
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():  # a server on another machine: no CPU figure
        return lambda: 0.0
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    return read


def run_backend(backend: str, url: str, runs: int) -> dict:
    engine = make_engine(url)
    now = segment_data.NOW
    out: dict = {"backend": backend}
    with Session(engine) as session:
        totals = session.execute(
            text(
                "SELECT (SELECT count(*) FROM friends), (SELECT count(*) FROM clicks), "
                "(SELECT count(*) FROM conversions)"
            )
        ).one()
        out["rows"] = {"friends": totals[0], "clicks": totals[1], "purchases": totals[2]}
        account = segment_data.ACCOUNT_ID
        cpu = _cpu_meter(session, backend)
        figures = timed(lambda: count_segment(session, account, COMBINED, now=now), runs, cpu)
        out["combined"] = {"count": figures.pop("result"), **figures}
        figures = timed(lambda: preview(session, account, COMBINED, now=now), runs, cpu)
        result = figures.pop("result")
        out["combined_preview"] = {"count": result.count, "sample": len(result.sample), **figures}
        for name, definition in OTHERS.items():
            figures = timed(
                lambda d=definition: count_segment(session, account, d, now=now),
                max(3, runs // 2),
                cpu,
            )
            out[name] = {"count": figures.pop("result"), **figures}
    engine.dispose()
    return out


def main() -> None:
    wire()  # the segment conditions of tracking, delivery and inflow
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_arguments(parser, runs=7)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    results = run_on_backends(args, cached_database, run_backend)
    print(
        f"machine: {machine()} "
        "(other work on the machine slows every figure), "
        f"Python {platform.python_version()}; scale {args.scale:g}; target < {TARGET_S:g} s "
        "per count (ratio < 1 meets it)"
    )
    for result in results:
        combined, shown = result["combined"], result["combined_preview"]
        print(
            f"{result['backend']:>10}: combined segment count {combined['median_s']:.3f} s "
            f"(ratio {combined['ratio_to_1s_target']:.3f}; CPU {combined['cpu_median_s']:.3f} s),"
            f" preview {shown['median_s']:.3f} s (CPU {shown['cpu_median_s']:.3f} s); "
            f"generation {result['generation_s'] or 'cached'} s"
        )


if __name__ == "__main__":
    main()
