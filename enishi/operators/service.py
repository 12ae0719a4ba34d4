"""Operators and their roles: create, authenticate, grant, list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.operators.models import Operator, OperatorRole
from enishi.operators.passwords import (
    MAX_LENGTH,
    MIN_DISTINCT,
    MIN_LENGTH,
    hash_password,
    needs_rehash,
    one_time_password,
    verify_password,
)
from enishi.operators.roles import Role, may_assign
from enishi.operators.sessions import end_all_sessions


class OperatorError(ValueError):
    """A refused operator change; the message is Japanese, for the page or the CLI."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def valid_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(at and local and "." in domain and " " not in email and len(email) <= 254)


def operator_by_email(session: Session, email: str) -> Operator | None:
    return session.scalar(select(Operator).where(Operator.email == normalize_email(email)))


def create_operator(
    session: Session,
    *,
    email: str,
    password: str,
    name: str = "",
    is_owner: bool = False,
    one_time: bool = False,
) -> Operator:
    """`one_time`: the password was generated for them, so they must change it at their
    first login."""
    email = normalize_email(email)
    if not valid_email(email):
        raise OperatorError("メールアドレスの形式が正しくありません。")
    check_password_rule(password, email)
    if operator_by_email(session, email) is not None:
        raise OperatorError("このメールアドレスのオペレーターは既に存在します。")
    operator = Operator(
        email=email,
        password_hash=hash_password(password),
        name=name.strip(),
        is_owner=is_owner,
        must_change_password=one_time,
    )
    session.add(operator)
    session.flush()
    return operator


def check_password_rule(password: str, email: str) -> None:
    """The one rule for every password an operator gets (CLI, settings page, password
    change), in the spirit of NIST SP 800-63B: length over composition rules, but no
    trivial repetition and not the operator's own email."""
    if len(password) < MIN_LENGTH:
        raise OperatorError("パスワードは10文字以上にしてください。")
    if len(password) > MAX_LENGTH:
        raise OperatorError("パスワードは256文字以内にしてください。")
    if len(set(password)) < MIN_DISTINCT:
        raise OperatorError("同じ文字の繰り返しが多すぎます。5種類以上の文字を使ってください。")
    local_part = normalize_email(email).partition("@")[0]
    if len(local_part) >= 4 and local_part in password.lower():
        raise OperatorError("パスワードにメールアドレスを含めないでください。")


def change_password(session: Session, operator: Operator, new_password: str) -> int:
    """The operator's own new password (the caller has checked the current one). Ends every
    session of the operator, so a stolen cookie dies with the old password; the caller
    starts a new session for the browser that made the change. Returns the sessions ended."""
    check_password_rule(new_password, operator.email)
    if verify_password(operator.password_hash, new_password):
        raise OperatorError("新しいパスワードは現在のパスワードと違うものにしてください。")
    operator.password_hash = hash_password(new_password)
    operator.must_change_password = False
    return end_all_sessions(session, operator.id)


def reset_password(session: Session, operator: Operator) -> str:
    """A new one-time password for an operator who is locked out (`enishi operator
    reset-password`): their sessions end and they must change it at their next login."""
    password = one_time_password()
    operator.password_hash = hash_password(password)
    operator.must_change_password = True
    end_all_sessions(session, operator.id)
    return password


def set_disabled(
    session: Session,
    operator: Operator,
    disabled: bool,
    *,
    actor: Actor,
    account_id: int | None = None,
) -> int:
    """Disable (sessions end at once, login refused) or re-enable an operator, audited on
    the account whose operators page did it (the CLI's on none). Returns the sessions
    ended."""
    operator.disabled = disabled
    if not disabled:
        _audit(session, actor, "operator.enabled", account_id, operator, {})
        return 0
    ended = end_all_sessions(session, operator.id)
    _audit(session, actor, "operator.disabled", account_id, operator, {"sessions_ended": ended})
    return ended


def _audit(
    session: Session,
    actor: Actor,
    action: str,
    account_id: int | None,
    operator: Operator,
    details: dict[str, Any],
) -> None:
    record(
        session,
        actor=actor,
        action=action,
        account_id=account_id,
        target=f"operator:{operator.id}",
        details={"email": operator.email, **details},
    )


def switchable_operators(session: Session, actor: Operator, operator_ids: list[int]) -> set[int]:
    """Which of these operators `actor` may disable or re-enable. Disabling is
    installation-wide, so the actor must be allowed to manage the operator's role on every
    account the operator has one on (an admin of one shop cannot lock out the owner of
    another); installation owners are switched by installation owners only; nobody
    switches themselves."""
    targets = session.scalars(select(Operator).where(Operator.id.in_(operator_ids))).all()
    if actor.is_owner:
        return {op.id for op in targets if op.id != actor.id}
    mine = {
        account_id: Role.parse(role)
        for account_id, role in session.execute(
            select(OperatorRole.account_id, OperatorRole.role).where(
                OperatorRole.operator_id == actor.id
            )
        )
    }
    theirs: dict[int, list[tuple[int, Role]]] = {}
    for operator_id, account_id, role in session.execute(
        select(OperatorRole.operator_id, OperatorRole.account_id, OperatorRole.role).where(
            OperatorRole.operator_id.in_(operator_ids)
        )
    ):
        theirs.setdefault(operator_id, []).append((account_id, Role.parse(role)))
    return {
        op.id
        for op in targets
        if op.id != actor.id
        and not op.is_owner
        and theirs.get(op.id)
        and all(
            account_id in mine and may_assign(mine[account_id], role)
            for account_id, role in theirs[op.id]
        )
    }


def count_operators(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Operator)) or 0


def authenticate(session: Session, email: str, password: str) -> Operator | None:
    """The operator when the password is right and the operator is enabled, else None.
    Costs one argon2 verification either way."""
    operator = operator_by_email(session, email)
    if not verify_password(operator.password_hash if operator else None, password):
        return None
    if operator.disabled:
        return None
    if needs_rehash(operator.password_hash):
        operator.password_hash = hash_password(password)
    return operator


def role_on(session: Session, operator: Operator, account_id: int) -> Role | None:
    if operator.is_owner:
        return Role.OWNER
    value = session.scalar(
        select(OperatorRole.role).where(
            OperatorRole.operator_id == operator.id, OperatorRole.account_id == account_id
        )
    )
    return Role.parse(value) if value else None


@dataclass(frozen=True)
class AccountChoice:
    id: int
    name: str
    role: Role


def accounts_for(session: Session, operator: Operator) -> list[AccountChoice]:
    """The accounts the operator may open, for the account switcher."""
    if operator.is_owner:
        rows = session.execute(select(Account.id, Account.name).order_by(Account.id))
        return [AccountChoice(row.id, row.name, Role.OWNER) for row in rows]
    rows = session.execute(
        select(Account.id, Account.name, OperatorRole.role)
        .join(OperatorRole, OperatorRole.account_id == Account.id)
        .where(OperatorRole.operator_id == operator.id)
        .order_by(Account.id)
    )
    return [AccountChoice(row.id, row.name, Role.parse(row.role)) for row in rows]


@dataclass(frozen=True)
class Member:
    """An operator with access to an account, as the operators page lists them."""

    operator: Operator
    role: Role
    via_installation: bool  # an installation owner: the role cannot be changed here


def members_of(session: Session, account_id: int) -> list[Member]:
    granted = session.execute(
        select(Operator, OperatorRole.role)
        .join(OperatorRole, OperatorRole.operator_id == Operator.id)
        .where(OperatorRole.account_id == account_id, Operator.is_owner.is_(False))
    )
    members = [Member(op, Role.parse(role), False) for op, role in granted]
    owners = session.scalars(select(Operator).where(Operator.is_owner.is_(True)))
    members += [Member(op, Role.OWNER, True) for op in owners]
    return sorted(members, key=lambda m: (-m.role, m.operator.email))


def set_role(session: Session, operator: Operator, account_id: int, role: Role) -> None:
    """Grant or change the operator's role on the account."""
    if operator.is_owner:
        raise OperatorError("インストールのオーナーはすべてのアカウントのオーナーです。")
    existing = session.scalar(
        select(OperatorRole).where(
            OperatorRole.operator_id == operator.id, OperatorRole.account_id == account_id
        )
    )
    if existing is None:
        session.add(OperatorRole(operator_id=operator.id, account_id=account_id, role=role.key))
    else:
        existing.role = role.key
    session.flush()


def add_member(
    session: Session, operator: Operator, account_id: int, role: Role, *, actor: Actor, new: bool
) -> None:
    """Give the operator (`new`: just created) a role on the account, audited."""
    set_role(session, operator, account_id, role)
    details = {"role": role.key, "new": new}
    _audit(session, actor, "operator.added", account_id, operator, details)


def change_member_role(
    session: Session, operator: Operator, account_id: int, old: Role, role: Role, *, actor: Actor
) -> None:
    """Change the operator's role on the account, audited (the same role: nothing)."""
    if role != old:
        set_role(session, operator, account_id, role)
        details = {"role": [old.key, role.key]}
        _audit(session, actor, "operator.role_changed", account_id, operator, details)


def remove_member(
    session: Session, operator: Operator, account_id: int, role: Role, *, actor: Actor
) -> None:
    """Take the operator's `role` on the account away, audited."""
    remove_role(session, operator.id, account_id)
    _audit(session, actor, "operator.removed", account_id, operator, {"role": role.key})


def remove_role(session: Session, operator_id: int, account_id: int) -> bool:
    result = session.execute(
        delete(OperatorRole).where(
            OperatorRole.operator_id == operator_id, OperatorRole.account_id == account_id
        )
    )
    return result.rowcount > 0
