"""Roles on an account, ordered: each role may do everything the ones below it may."""

from __future__ import annotations

import enum


class Role(enum.IntEnum):
    VIEWER = 1  # looks at everything, changes nothing
    MARKETER = 2  # + friends, segments, deliveries, exports
    ADMIN = 3  # + settings, API keys, operators (not owners), the audit log
    OWNER = 4  # + makes and removes owners

    @property
    def key(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}") from None


ROLE_KEYS = [role.key for role in Role]


def may_assign(actor: Role, target: Role) -> bool:
    """Admins manage viewers, marketers and admins; only owners make or change owners."""
    return actor >= Role.ADMIN and (target < Role.OWNER or actor == Role.OWNER)
