"""Random, seeded, reproducible assignment of friends to the holdout and to arms.

Each friend gets independent uniform draws in [0, 1) from a 64-bit hash of (the
delivery's seed, the friend's id, a purpose): one for the holdout, one for the arm, one for
the quota draw. The same delivery always assigns the same friend the same way — on any
worker, after any crash, on SQLite and PostgreSQL — and no state is needed to plan a
delivery in chunks. Shares are honoured in expectation (a Bernoulli draw per friend), which
is what a randomized holdout comparison needs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from enishi.delivery.models import HOLDOUT_ARM

_MASK = (1 << 64) - 1
_SCALE = 1.0 / (1 << 64)
HOLDOUT_SALT, ARM_SALT, QUOTA_SALT = 0x68_6F_6C_64, 0x61_72_6D_73, 0x71_75_6F_74


def _mix(x: int) -> int:
    """splitmix64's finalizer: a bijection on 64-bit integers that scatters every bit."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def draw(seed: int, friend_id: int, salt: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, friend, purpose)."""
    return _mix(_mix((seed & _MASK) ^ salt) ^ friend_id) * _SCALE


class Assigner:
    """Assigns friends for one delivery (its seed, holdout share and arms)."""

    def __init__(
        self, seed: int, holdout_share: float, arm_names: Sequence[str], arm_shares: Sequence[float]
    ) -> None:
        self.seed, self.holdout_share = seed, holdout_share
        self.arm_names = list(arm_names)
        self._holdout, self._arm, self._quota = (
            _mix((seed & _MASK) ^ salt) for salt in (HOLDOUT_SALT, ARM_SALT, QUOTA_SALT)
        )
        total = sum(arm_shares)
        self.trivial = holdout_share <= 0 and len(self.arm_names) == 1
        running, self._bounds = 0.0, []
        for share in arm_shares:
            running += share
            self._bounds.append(running / total)

    def arm(self, friend_id: int) -> str:
        """The friend's arm, or "holdout"."""
        holdout = self.holdout_share
        if holdout > 0 and _mix(self._holdout ^ friend_id) * _SCALE < holdout:
            return HOLDOUT_ARM
        if len(self.arm_names) == 1:
            return self.arm_names[0]
        index = bisect.bisect_right(self._bounds, _mix(self._arm ^ friend_id) * _SCALE)
        return self.arm_names[min(index, len(self.arm_names) - 1)]

    def quota_draw(self, friend_id: int) -> float:
        return _mix(self._quota ^ friend_id) * _SCALE

    def count_sendable(self, friend_ids: Iterable[int]) -> int:
        return sum(1 for f in friend_ids if self.arm(f) != HOLDOUT_ARM)

    def quota_cutoff(self, friend_ids: Iterable[int], allowed: int) -> float | None:
        """The draw below which exactly `allowed` of the non-held-out friends fall (None
        when all of them fit): partial delivery picks its recipients at random this way."""
        draws = sorted(self.quota_draw(f) for f in friend_ids if self.arm(f) != HOLDOUT_ARM)
        if allowed >= len(draws):
            return None
        return draws[allowed] if allowed > 0 else 0.0
