"""The one place where domains are connected: what each domain adds to the registries of
the rooms below it — friend-timeline sources and rollups, the friend's references (inflow
route, member links), segment conditions, domain-event subscribers, the producers whose
requests the sender sends — is registered here,
so those rooms (friends, segments, events) import no domain above them. Called when app
state is built; calling it again changes nothing."""

from __future__ import annotations

import functools


@functools.cache
def wire() -> None:
    from enishi.delivery import segment_conditions as delivery_conditions
    from enishi.delivery import timeline as delivery_timeline
    from enishi.delivery.outbound import register_producer
    from enishi.events.registry import subscribe
    from enishi.friends import references
    from enishi.friends.rollups import register_rollup
    from enishi.friends.timeline import register_source
    from enishi.inflow import segment_conditions as inflow_conditions
    from enishi.inflow import subscribers as inflow_subscribers
    from enishi.inflow.service import route_labels
    from enishi.members import subscribers as member_subscribers
    from enishi.members import timeline as member_timeline
    from enishi.members.csv_links import link_imported_members
    from enishi.segments.conditions import register_condition, register_reference
    from enishi.tracking import rollups as tracking_rollups
    from enishi.tracking import segment_conditions as tracking_conditions
    from enishi.tracking import timeline as tracking_timeline
    from enishi.webhook import subscribers as webhook_subscribers

    for module in (tracking_timeline, member_timeline, delivery_timeline):
        for source in module.TIMELINE_SOURCES:
            register_source(source)
    for rollup in tracking_rollups.ROLLUPS:
        register_rollup(rollup)
    references.register(route_reader=route_labels, member_linker=link_imported_members)
    for module in (tracking_conditions, delivery_conditions, inflow_conditions):
        for key, compile in module.CONDITIONS.items():
            register_condition(key, compile)
    for what, model in delivery_conditions.REFERENCES.items():
        register_reference(what, model)
    for module in (inflow_subscribers, member_subscribers, webhook_subscribers):
        for subscriber in module.SUBSCRIBERS:
            subscribe(subscriber)
    register_producer()  # a source without a producer is never sent
