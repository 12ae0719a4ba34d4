"""Who is looking: `signed_in` (an operator with a valid session and no one-time password
left to change) and `account_page(role)` (an account the operator has at least `role` on).
Pages depend on one of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.audit.actor import Actor, client_ip
from enishi.deps import db_session
from enishi.operators.models import Operator, OperatorSession
from enishi.operators.roles import Role
from enishi.operators.service import AccountChoice, accounts_for, role_on
from enishi.operators.sessions import operator_for_token
from enishi.web.csrf import SESSION_COOKIE
from enishi.web.errors import LoginRequired, PageError, PasswordChangeRequired
from enishi.web.i18n import N_, request_language, translate

ROLE_LABELS = {
    Role.VIEWER: N_("閲覧者"),
    Role.MARKETER: N_("マーケター"),
    Role.ADMIN: N_("管理者"),
    Role.OWNER: N_("オーナー"),
}


@dataclass
class Viewer:
    """The signed-in operator of this request."""

    operator: Operator
    login: OperatorSession
    token: str
    accounts: list[AccountChoice]


Owned = TypeVar("Owned")  # a model with an account_id


@dataclass
class AccountPage:
    """An account page: the operator, the account and the operator's role on it."""

    viewer: Viewer
    account: Account
    role: Role
    lang: str
    ip: str

    @property
    def operator(self) -> Operator:
        return self.viewer.operator

    @property
    def actor(self) -> Actor:
        """The operator, from this request's address: services audit what it does."""
        return Actor.operator(self.operator.id, self.ip)

    def can(self, role: Role) -> bool:
        return self.role >= role

    def t(self, text: str, **values: object) -> str:
        return translate(self.lang, text, **values)

    def owned(self, session: Session, model: type[Owned], row_id: int) -> Owned:
        """This account's row of `model`; another account's, or none, is a 404 page."""
        row = session.get(model, row_id)
        if row is None or row.account_id != self.account.id:
            raise PageError(404, N_("ページが見つかりません。"))
        return row


def signed_in_with_any_password(
    request: Request, session: Session = Depends(db_session, scope="function")
) -> Viewer:
    """The signed-in operator, even one who must still replace a one-time password: only
    the password page and the logouts depend on this directly."""
    token = request.cookies.get(SESSION_COOKIE, "")
    found = operator_for_token(session, token)
    if found is None:
        raise LoginRequired()
    operator, login = found
    return Viewer(operator, login, token, accounts_for(session, operator))


def signed_in(viewer: Viewer = Depends(signed_in_with_any_password)) -> Viewer:
    """The signed-in operator; one with a one-time password is sent to /password first."""
    if viewer.operator.must_change_password:
        raise PasswordChangeRequired()
    return viewer


def account_page(minimum: Role) -> Callable[..., AccountPage]:
    """A dependency for `/accounts/{account_id}/...` pages needing at least `minimum`."""

    def dependency(
        account_id: int,
        request: Request,
        viewer: Viewer = Depends(signed_in),
        session: Session = Depends(db_session, scope="function"),
    ) -> AccountPage:
        role = role_on(session, viewer.operator, account_id)
        account = session.get(Account, account_id) if role is not None else None
        if account is None:  # the same answer whether the account exists or not
            raise PageError(404, N_("ページが見つかりません。"))
        if role < minimum:
            raise PageError(
                403, N_("この操作には{role}以上の権限が必要です。"), role=ROLE_LABELS[minimum]
            )
        return AccountPage(viewer, account, role, request_language(request), client_ip(request))

    return dependency
