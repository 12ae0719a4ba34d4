"""`enishi operator create | list | disable | enable | reset-password`: the first owner, who
can log in, and the way back in for a locked-out installation."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.app import build_state
from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.cli.server import _upgrade
from enishi.config import get_settings
from enishi.operators.models import Operator, OperatorRole
from enishi.operators.roles import ROLE_KEYS, Role
from enishi.operators.service import (
    OperatorError,
    count_operators,
    create_operator,
    operator_by_email,
    reset_password,
    set_disabled,
    set_role,
)
from enishi.operators.throttle import clear_failures

console = Console()
operator_app = typer.Typer(help="Dashboard operators / オペレーター", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("パスワード / password", hide_input=True, confirmation_prompt=True)


@operator_app.command("create")
def operator_create(
    email: str = typer.Option(..., help="Login email."),
    name: str = typer.Option("", help="Display name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
    owner: bool = typer.Option(
        None,
        "--owner/--no-owner",
        help="Installation owner: owner of every account. Default: yes for the first "
        "operator, no afterwards.",
    ),
    account_id: int = typer.Option(None, "--account", help="Give a role on this account."),
    role: str = typer.Option("viewer", help=f"Role on --account: {', '.join(ROLE_KEYS)}."),
) -> None:
    """Create an operator (the first one becomes the installation owner) / オペレーター作成."""
    if role not in ROLE_KEYS:
        console.print(f"[red]エラー / error:[/] role must be one of {', '.join(ROLE_KEYS)}")
        raise typer.Exit(2)
    password = _read_password(password_stdin)
    settings = get_settings()
    _upgrade(settings.database_url, settings.sqlite_synchronous)
    state = build_state(settings)
    try:
        with state.sessions.begin() as session:
            is_owner = owner if owner is not None else count_operators(session) == 0
            operator = create_operator(
                session, email=email, password=password, name=name, is_owner=is_owner
            )
            if account_id is not None:
                if session.get(Account, account_id) is None:
                    raise OperatorError(f"アカウント {account_id} はありません。")
                set_role(session, operator, account_id, Role.parse(role))
            record(
                session,
                actor=Actor.cli(),
                action="operator.created",
                account_id=account_id,
                target=f"operator:{operator.id}",
                details={"email": operator.email, "owner": is_owner, "via": "cli"},
            )
            summary = (operator.id, operator.email, is_owner)
    except OperatorError as error:
        console.print(f"[red]エラー / error:[/] {error}")
        raise typer.Exit(2) from None
    finally:
        state.close()
    kind = (
        "インストールのオーナー / installation owner" if summary[2] else "オペレーター / operator"
    )
    console.print(f"{kind} {summary[1]} を作成しました / created (id {summary[0]})")


@operator_app.command("list")
def operator_list() -> None:
    """List operators and their roles / オペレーター一覧."""
    settings = get_settings()
    state = build_state(settings)
    try:
        with state.sessions() as session:
            operators = session.scalars(select(Operator).order_by(Operator.id)).all()
            roles = session.execute(
                select(OperatorRole.operator_id, OperatorRole.account_id, OperatorRole.role)
            ).all()
    finally:
        state.close()
    by_operator: dict[int, list[str]] = {}
    for operator_id, account_id, role_key in roles:
        by_operator.setdefault(operator_id, []).append(f"{account_id}:{role_key}")
    table = Table("id", "email", "name", "roles", "disabled", "must change password")
    for operator in operators:
        granted = "all:owner" if operator.is_owner else ", ".join(by_operator.get(operator.id, []))
        table.add_row(
            str(operator.id),
            operator.email,
            operator.name,
            granted,
            "yes" if operator.disabled else "",
            "yes" if operator.must_change_password else "",
        )
    console.print(table)


def _change_operator(email: str, change: Callable[..., str]) -> str:
    """Runs `change(session, operator)` for the operator with this email, in one
    transaction, on an up-to-date schema; exits 2 when there is no such operator."""
    settings = get_settings()
    _upgrade(settings.database_url, settings.sqlite_synchronous)
    state = build_state(settings)
    try:
        with state.sessions.begin() as session:
            operator = operator_by_email(session, email)
            if operator is None:
                raise OperatorError(f"オペレーター {email} はいません。")
            return change(session, operator)
    except OperatorError as error:
        console.print(f"[red]エラー / error:[/] {error}")
        raise typer.Exit(2) from None
    finally:
        state.close()


@operator_app.command("disable")
def operator_disable(email: str = typer.Option(..., help="Login email.")) -> None:
    """Disable an operator: no login, every session ends now / オペレーターの利用停止."""

    def disable(session, operator) -> str:
        if operator.disabled:
            return f"{operator.email} は既に利用停止中です / already disabled"
        ended = set_disabled(session, operator, True, actor=Actor.cli())
        return f"{operator.email} の利用を停止しました / disabled ({ended} session(s) ended)"

    console.print(_change_operator(email, disable))


@operator_app.command("enable")
def operator_enable(email: str = typer.Option(..., help="Login email.")) -> None:
    """Re-enable a disabled operator / オペレーターの利用再開."""

    def enable(session, operator) -> str:
        if not operator.disabled:
            return f"{operator.email} は利用中です / not disabled"
        set_disabled(session, operator, False, actor=Actor.cli())
        return f"{operator.email} の利用を再開しました / enabled"

    console.print(_change_operator(email, enable))


@operator_app.command("reset-password")
def operator_reset_password(email: str = typer.Option(..., help="Login email.")) -> None:
    """Print a one-time password, to be changed at the next login / パスワード再発行.

    Every session of the operator ends and their failed-login count is cleared."""

    def reset(session, operator) -> str:
        password = reset_password(session, operator)
        clear_failures(session, operator.email)
        record(
            session,
            actor=Actor.cli(),
            action="operator.password_reset",
            target=f"operator:{operator.id}",
            details={"email": operator.email, "via": "cli"},
        )
        lines = [
            f"{operator.email} の一時パスワード / one-time password:",
            password,
            "次回ログイン時に変更が必要です / it must be changed at the next login.",
        ]
        if operator.disabled:
            lines.append(
                "このオペレーターは利用停止中です。`enishi operator enable` で再開できます"
                " / this operator is disabled: `enishi operator enable` lets them in again."
            )
        return "\n".join(lines)

    # plain print: the password must come out unwrapped and unstyled, easy to copy
    print(_change_operator(email, reset))
