"""The segment condition on deliveries: received or clicked a delivery (registered in
enishi/wiring.py; the language is in enishi/segments/language.py)."""

from __future__ import annotations

from sqlalchemy import and_, exists, not_

from enishi.delivery.models import Delivery, DeliveryRecipient
from enishi.friends.models import Friend
from enishi.segments import language as L
from enishi.segments.clauses import CHEAP, SCAN, Part
from enishi.tracking.models import Click


def delivery(compiler, node: L.DeliveryLeaf, path: str):
    compiler.owned(Delivery, node.id, f"{path}.id", "delivery")
    parts: list[Part] = []
    if node.received is not None:
        got = exists().where(
            DeliveryRecipient.delivery_id == node.id,
            DeliveryRecipient.friend_id == Friend.id,
            DeliveryRecipient.status == "sent",
        )
        parts.append((got if node.received else not_(got), SCAN))
    if node.clicked is not None:
        clicker = Friend.click_count >= 1
        hit = exists().where(Click.friend_id == Friend.id, Click.delivery_id == node.id)
        if node.clicked:
            parts += [(clicker, CHEAP), (hit, SCAN)]
        else:
            parts.append((not_(and_(clicker, hit)), SCAN))
    return parts


CONDITIONS = {"delivery": delivery}
REFERENCES = {"delivery": Delivery}
