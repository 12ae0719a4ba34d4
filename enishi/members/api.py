"""/api/v1 member linking: link sessions for the account-link flow, direct linking from the
brand's backend, unlinking, lookup by member ID and daily link counts."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account
from enishi.accounts.models import Account
from enishi.deps import AppState, app_state, db_session
from enishi.friends.service import get_friend, get_or_create_friend
from enishi.kit.errors import not_found
from enishi.members.schemas import (
    DailyLinksOut,
    FriendMemberOut,
    LinkSessionIn,
    LinkSessionOut,
    MemberFriendOut,
    MemberIn,
    MemberLinkOut,
)
from enishi.members.service import (
    clean_member_id,
    create_link_session,
    daily_link_counts,
    friend_by_member_id,
    link_history,
    link_member,
    open_link,
    unlink_member,
)

router = APIRouter(tags=["members"])


@router.post("/members/link-sessions", response_model=LinkSessionOut, status_code=201)
def new_link_session(
    body: LinkSessionIn,
    account: Account = Depends(current_account),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> LinkSessionOut:
    """Start LINE's account-link flow for a user who has logged in on the brand's site:
    redirect them to `redirect_url` within 10 minutes."""
    link = create_link_session(
        session,
        line=state.line_for(account),
        account=account,
        line_user_id=body.line_user_id,
        member_id=body.member_id,
    )
    return LinkSessionOut(redirect_url=link.redirect_url, expires_at=link.expires_at)


@router.get("/members/links/daily", response_model=DailyLinksOut)
def links_per_day(
    start: date = Query(alias="from"),
    end: date = Query(alias="to"),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict:
    """New member links per day in the account's timezone (seed 001: ID-link growth)."""
    return daily_link_counts(session, account, start, end)


@router.get("/members/{member_id:path}", response_model=MemberFriendOut)
def friend_of_member(
    member_id: str,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> MemberFriendOut:
    friend = friend_by_member_id(session, account.id, clean_member_id(member_id))
    if friend is None:
        raise not_found("member")
    out = MemberFriendOut.model_validate(friend)
    link = open_link(session, friend.id)
    if link is not None:
        out.linked_at, out.link_method = link.linked_at, link.method
    return out


def _member_out(session: Session, friend) -> FriendMemberOut:
    return FriendMemberOut(
        line_user_id=friend.line_user_id,
        member_id=friend.member_id,
        history=[MemberLinkOut.model_validate(link) for link in link_history(session, friend.id)],
    )


@router.get("/friends/{line_user_id}/member", response_model=FriendMemberOut)
def get_member_link(
    line_user_id: str,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> FriendMemberOut:
    friend = get_friend(session, account.id, line_user_id)
    if friend is None:
        raise not_found("friend")
    return _member_out(session, friend)


@router.put("/friends/{line_user_id}/member", response_model=FriendMemberOut)
def put_member_link(
    line_user_id: str,
    body: MemberIn,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> FriendMemberOut:
    """Link a member ID from the brand's backend (idempotent). A member ID linked to another
    friend moves to this one; the old link is ended and kept in the history."""
    friend = get_or_create_friend(session, account.id, line_user_id)
    link_member(session, friend, body.member_id, method="api")
    return _member_out(session, friend)


@router.delete("/friends/{line_user_id}/member", status_code=204)
def delete_member_link(
    line_user_id: str,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Unlink (idempotent: unlinking an unlinked friend is fine)."""
    friend = get_friend(session, account.id, line_user_id)
    if friend is None:
        raise not_found("friend")
    unlink_member(session, friend, reason="api")
    return Response(status_code=204)
