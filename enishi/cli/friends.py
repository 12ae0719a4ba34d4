"""`enishi friends export | import | rebuild-rollups` — for files and jobs too big for a
browser upload, with progress shown as they go."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.app import build_state
from enishi.audit.actor import Actor
from enishi.config import get_settings
from enishi.deps import AppState
from enishi.friends.csv_export import export_csv
from enishi.friends.csv_io import import_csv
from enishi.friends.queries import FriendFilter, count_friends
from enishi.friends.rollups import check_rollups, rebuild_rollups
from enishi.kit.errors import ApiError
from enishi.web.pages.friends_problems import describe

console = Console()
friends_app = typer.Typer(help="Friends: CSV and rollups / 友だち", no_args_is_help=True)
ACCOUNT = typer.Option(..., "--account", help="The account's Messaging API channel ID.")
PHASES = {"validate": "検証 / validating", "apply": "反映 / applying"}


def _account(state: AppState, channel_id: str) -> tuple[int, str]:
    with state.sessions() as session:
        row = session.execute(
            select(Account.id, Account.timezone).where(Account.channel_id == channel_id)
        ).first()
    if row is None:
        console.print(f"[red]エラー / error:[/] no account with channel ID {channel_id}")
        raise typer.Exit(2)
    return row.id, row.timezone


@friends_app.command("export")
def export_command(
    account: str = ACCOUNT,
    out: Path = typer.Option(..., "--out", help="The CSV file to write (UTF-8 with BOM)."),
    status: str = typer.Option(None, help="following, blocked or unknown."),
    tag: str = typer.Option(None, help="Only friends with this tag."),
) -> None:
    """Write the account's friends to a CSV file / 友だちをCSVに書き出す."""
    state = build_state(get_settings())
    try:
        account_id, timezone = _account(state, account)
        filters = FriendFilter(status=status, tag=tag)
        with state.sessions() as session:
            total = count_friends(session, account_id, filters)
            with Progress(
                TextColumn("書き出し / exporting"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("export", total=total)
                with out.open("wb") as target:
                    for chunk in export_csv(
                        session, account_id, timezone, filters, lambda n: progress.advance(task, n)
                    ):
                        target.write(chunk)
    except ApiError as error:
        console.print(f"[red]エラー / error:[/] {error.message}")
        raise typer.Exit(2) from None
    finally:
        state.close()
    console.print(f"[green]{total} 人を書き出しました / {total} friends written to {out}[/]")


@friends_app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The CSV file."),
    account: str = ACCOUNT,
    apply: str = typer.Option(
        "all",
        help="all: only if every row is valid; valid: the valid "
        "rows; none: validate only (dry run).",
    ),
) -> None:
    """Import friends from CSV (UTF-8 or Shift_JIS) / CSVから友だちを取り込む."""
    if apply not in ("all", "valid", "none"):
        console.print("[red]エラー / error:[/] --apply is all, valid or none")
        raise typer.Exit(2)
    state = build_state(get_settings())
    try:
        account_id, _ = _account(state, account)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            tasks: dict[str, int] = {}

            def advance(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(PHASES.get(phase, phase), total=total)
                progress.update(tasks[phase], completed=done)

            with file.open("rb") as source:
                report = import_csv(
                    state.sessions,
                    account_id,
                    source,
                    apply=apply,
                    progress=advance,
                    actor=Actor.cli(),
                )
    except ApiError as error:
        console.print(f"[red]エラー / error:[/] {error.message}")
        raise typer.Exit(2) from None
    finally:
        state.close()
    _print_report(report)
    if report["error_count"]:
        raise typer.Exit(1)


def _reason(error: dict) -> str:
    """The problem in Japanese (the dashboard's words), then the English message."""
    text, values, _ = describe(
        error.get("reason", "invalid"), error.get("params") or {}, error["message"]
    )
    return f"{text.format(**values)}\n{error['message']}"


def _print_report(report: dict) -> None:
    if report["errors"]:
        table = Table("行 / row", "列 / column", "理由 / reason", title="エラー / errors")
        for error in report["errors"][:50]:
            table.add_row(str(error["row"] or ""), error["column"] or "", _reason(error))
        console.print(table)
        if report["error_count"] > 50:
            console.print(
                f"… {report['error_count'] - 50} more / ほか {report['error_count'] - 50} 件"
            )
    verb = "反映しました / applied" if report["applied"] else "反映していません / not applied"
    console.print(
        f"{verb} ({report['encoding']}): {report['rows']} rows, {report['valid_rows']} valid, "
        f"{report['invalid_rows']} invalid — created {report['created']}, "
        f"updated {report['updated']}, unchanged {report['unchanged']}",
        soft_wrap=True,
    )


@friends_app.command("rebuild-rollups")
def rebuild_rollups_command(
    account: str = ACCOUNT,
    check_only: bool = typer.Option(False, "--check-only", help="Report, change nothing."),
) -> None:
    """Recompute click/purchase/message rollups from the event log / 集計値を再計算."""
    state = build_state(get_settings())
    try:
        account_id, _ = _account(state, account)
        with state.sessions() as session:
            mismatches = check_rollups(session, account_id)
        friends = len({m.friend_id for m in mismatches})
        console.print(f"ずれ / mismatches: {len(mismatches)} values on {friends} friends")
        for mismatch in mismatches[:20]:
            console.print(
                f"  {mismatch.line_user_id} {mismatch.field}: stored "
                f"{mismatch.stored!r}, expected {mismatch.expected!r}",
                soft_wrap=True,
            )
        if not check_only:
            with state.sessions.begin() as session:
                changed = rebuild_rollups(session, account_id)
            console.print(f"[green]再計算しました / rebuilt: {changed} rollup groups corrected[/]")
    finally:
        state.close()
