"""設定 › オペレーター The operators of an account: add (a new operator gets a one-time
password they must change at first login), change roles, remove, disable and re-enable.
Every change writes the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from enishi.deps import db_session
from enishi.operators.models import Operator
from enishi.operators.passwords import one_time_password
from enishi.operators.roles import ROLE_KEYS, Role, may_assign
from enishi.operators.service import (
    OperatorError,
    add_member,
    change_member_role,
    create_operator,
    members_of,
    operator_by_email,
    remove_member,
    role_on,
    set_disabled,
    switchable_operators,
)
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.render import redirect_to, register_notice, render

router = APIRouter()

register_notice(
    "operator_disabled",
    N_("オペレーターの利用を停止しました。ログイン中の端末もログアウトされました。"),
)
register_notice("operator_enabled", N_("オペレーターの利用を再開しました。"))

BASE = "/accounts/{account_id}/settings"


def _operators_page(
    request: Request,
    page: AccountPage,
    session: Session,
    *,
    error: str | None = None,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    members = members_of(session, page.account.id)
    return render(
        request,
        "settings/operators.html",
        page,
        {
            "tab": "operators",
            "members": members,
            "assignable": [r for r in Role if may_assign(page.role, r)],
            "may_assign": may_assign,
            "switchable": switchable_operators(
                session, page.operator, [m.operator.id for m in members]
            ),
            "error": error,
            "created": created,
        },
        status=status,
    )


def _parse_role(value: str) -> Role:
    if value not in ROLE_KEYS:
        raise PageError(422, N_("権限の指定が正しくありません。"))
    return Role.parse(value)


@router.get(BASE + "/operators")
def operators_page(
    request: Request,
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return _operators_page(request, page, session)


@router.post(BASE + "/operators")
def add_operator(
    request: Request,
    email: str = Form(""),
    name: str = Form(""),
    role: str = Form("viewer"),
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Adds an existing operator to the account, or creates one with a one-time password
    shown once (enishi sends no email; hand it over): they must change it at first login."""
    new_role = _parse_role(role)
    if not may_assign(page.role, new_role):
        raise PageError(403, N_("この権限を付与することはできません。"))
    operator = operator_by_email(session, email)
    created = None
    try:
        if operator is None:
            password = one_time_password()
            operator = create_operator(
                session, email=email, password=password, name=name, one_time=True
            )
            created = {"email": operator.email, "password": password}
        elif role_on(session, operator, page.account.id) is not None:
            raise OperatorError(N_("このオペレーターは既にこのアカウントに参加しています。"))
        new = created is not None
        add_member(session, operator, page.account.id, new_role, actor=page.actor, new=new)
    except OperatorError as error:
        return _operators_page(request, page, session, error=str(error), status=422)
    if created:
        return _operators_page(request, page, session, created=created, status=201)
    return redirect_to(
        request, BASE.format(account_id=page.account.id) + "/operators", notice="saved"
    )


def _member(session: Session, page: AccountPage, operator_id: int) -> tuple[Operator, Role]:
    """Another operator of this account whose role the acting operator may change."""
    operator = session.get(Operator, operator_id)
    current = role_on(session, operator, page.account.id) if operator else None
    if operator is None or current is None:
        raise PageError(404, N_("ページが見つかりません。"))
    if operator.id == page.operator.id:
        raise PageError(403, N_("自分自身の権限は変更できません。"))
    if operator.is_owner or not may_assign(page.role, current):
        raise PageError(403, N_("この権限を付与することはできません。"))
    return operator, current


@router.post(BASE + "/operators/{operator_id}/role")
def change_role(
    request: Request,
    operator_id: int,
    role: str = Form(""),
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    operator, current = _member(session, page, operator_id)
    new_role = _parse_role(role)
    if not may_assign(page.role, new_role):
        raise PageError(403, N_("この権限を付与することはできません。"))
    change_member_role(session, operator, page.account.id, current, new_role, actor=page.actor)
    return redirect_to(
        request, BASE.format(account_id=page.account.id) + "/operators", notice="saved"
    )


@router.post(BASE + "/operators/{operator_id}/remove")
def remove_operator(
    request: Request,
    operator_id: int,
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    operator, current = _member(session, page, operator_id)
    remove_member(session, operator, page.account.id, current, actor=page.actor)
    return redirect_to(
        request, BASE.format(account_id=page.account.id) + "/operators", notice="removed"
    )


def _switchable(session: Session, page: AccountPage, operator_id: int) -> Operator:
    """A member of this account whom the acting operator may disable or re-enable
    (service.switchable_operators says who)."""
    operator = session.get(Operator, operator_id)
    if operator is None or role_on(session, operator, page.account.id) is None:
        raise PageError(404, N_("ページが見つかりません。"))
    if operator.id == page.operator.id:
        raise PageError(403, N_("自分自身の利用を停止することはできません。"))
    if operator.id not in switchable_operators(session, page.operator, [operator.id]):
        raise PageError(403, N_("このオペレーターの利用停止・再開はできません。"))
    return operator


@router.post(BASE + "/operators/{operator_id}/disable")
def disable_operator(
    request: Request,
    operator_id: int,
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """利用停止: the operator can no longer log in, on any account, and every session of
    theirs ends now. Their roles stay, so re-enabling restores them as they were."""
    operator = _switchable(session, page, operator_id)
    if not operator.disabled:
        set_disabled(session, operator, True, actor=page.actor, account_id=page.account.id)
    return redirect_to(
        request,
        BASE.format(account_id=page.account.id) + "/operators",
        notice="operator_disabled",
    )


@router.post(BASE + "/operators/{operator_id}/enable")
def enable_operator(
    request: Request,
    operator_id: int,
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    operator = _switchable(session, page, operator_id)
    if operator.disabled:
        set_disabled(session, operator, False, actor=page.actor, account_id=page.account.id)
    return redirect_to(
        request,
        BASE.format(account_id=page.account.id) + "/operators",
        notice="operator_enabled",
    )
