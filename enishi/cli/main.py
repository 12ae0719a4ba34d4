"""The `enishi` command line."""

from __future__ import annotations

import typer

from enishi import __version__
from enishi.cli.demo import demo
from enishi.cli.emulator import emulator
from enishi.cli.friends import friends_app
from enishi.cli.operators import operator_app
from enishi.cli.server import account_app, db_app, serve, worker

app = typer.Typer(
    help="enishi — self-hosted LINE Official Account CRM / LINE公式アカウントCRM",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(emulator)
app.command()(demo)
app.command()(serve)
app.command()(worker)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(friends_app, name="friends")
app.add_typer(operator_app, name="operator")


@app.command()
def version() -> None:
    """Print enishi's version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
