"""`enishi operator create | list`: the first owner, and who can log in."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.app import build_state
from enishi.cli.server import _upgrade
from enishi.config import get_settings
from enishi.operators.audit import record
from enishi.operators.models import Operator, OperatorRole
from enishi.operators.roles import ROLE_KEYS, Role
from enishi.operators.service import OperatorError, count_operators, create_operator, set_role

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
    table = Table("id", "email", "name", "roles", "disabled")
    for operator in operators:
        granted = "all:owner" if operator.is_owner else ", ".join(by_operator.get(operator.id, []))
        table.add_row(
            str(operator.id),
            operator.email,
            operator.name,
            granted,
            "yes" if operator.disabled else "",
        )
    console.print(table)
