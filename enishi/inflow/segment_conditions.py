"""The segment condition on inflow routes (registered in enishi/wiring.py; the language is
in enishi/segments/language.py)."""

from __future__ import annotations

from sqlalchemy import and_, false, select

from enishi.friends.models import Friend
from enishi.inflow.models import InflowRoute
from enishi.segments import language as L
from enishi.segments.clauses import CHEAP


def inflow_route(compiler, node: L.InflowRoute, path: str):
    column = Friend.inflow_route_id
    if node.none:
        return column.is_(None), CHEAP
    if node.id is not None:
        if not compiler.owned(InflowRoute, node.id, f"{path}.id", "inflow_route"):
            return false(), CHEAP
        ids = [node.id]
    else:
        codes = [node.code] if node.code is not None else list(node.codes or [])
        found = dict(
            compiler.session.execute(
                select(InflowRoute.code, InflowRoute.id).where(
                    InflowRoute.account_id == compiler.account_id, InflowRoute.code.in_(codes)
                )
            ).all()
        )
        for i, code in enumerate(codes):
            if code not in found:
                where = f"{path}.code" if node.code is not None else f"{path}.codes[{i}]"
                compiler.error(where, "unknown_inflow_route", f"no inflow route with code {code!r}")
        ids = list(found.values())
    return and_(column.is_not(None), column.in_(ids)), CHEAP


CONDITIONS = {"inflow_route": inflow_route}
