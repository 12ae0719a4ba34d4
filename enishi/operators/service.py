"""Operators and their roles: create, authenticate, grant, list."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.operators.models import Operator, OperatorRole
from enishi.operators.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from enishi.operators.roles import Role


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
    session: Session, *, email: str, password: str, name: str = "", is_owner: bool = False
) -> Operator:
    email = normalize_email(email)
    if not valid_email(email):
        raise OperatorError("メールアドレスの形式が正しくありません。")
    if len(password) < MIN_LENGTH:
        raise OperatorError("パスワードは10文字以上にしてください。")
    if operator_by_email(session, email) is not None:
        raise OperatorError("このメールアドレスのオペレーターは既に存在します。")
    operator = Operator(
        email=email, password_hash=hash_password(password), name=name.strip(), is_owner=is_owner
    )
    session.add(operator)
    session.flush()
    return operator


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


def remove_role(session: Session, operator_id: int, account_id: int) -> bool:
    result = session.execute(
        delete(OperatorRole).where(
            OperatorRole.operator_id == operator_id, OperatorRole.account_id == account_id
        )
    )
    return result.rowcount > 0
