"""Reading what was published: the stored domain events of one name, oldest first."""

from __future__ import annotations

from sqlalchemy import select

from enishi.events.models import DomainEvent


def published(state, name: str) -> list[DomainEvent]:
    with state.sessions() as session:
        return list(
            session.scalars(
                select(DomainEvent).where(DomainEvent.name == name).order_by(DomainEvent.id)
            )
        )
