"""Rules of the code base that a reviewer would otherwise have to remember."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "enishi"


def sources(folder: Path = PACKAGE):
    return [p for p in folder.rglob("*.py") if "migrations" not in p.parts]


def test_request_sessions_commit_before_the_response():
    offenders = [str(p) for p in sources() if re.search(r"Depends\(db_session\)", p.read_text())]
    assert offenders == [], "use Depends(db_session, scope='function')"


def test_emulator_and_crm_never_import_each_other():
    emulator = PACKAGE / "emulator"
    for path in sources():
        text = path.read_text()
        if emulator in path.parents:
            crm = re.findall(r"^\s*(?:from|import) enishi\.(?!emulator)\w+", text, re.M)
            assert not crm, f"{path} imports the CRM: {crm}"
        elif path.parent.name != "cli":  # the CLI starts both
            assert "enishi.emulator" not in text, f"{path} imports the emulator"


def test_line_is_reached_through_the_gateway():
    """The SDK lives in enishi/line/ only, so every LINE call passes the gateway's check
    that its thread holds no open write transaction (docs/decisions/0101-line-gateway.md).
    The delivery sender speaks to LINE with its own HTTP client, outside any transaction."""
    line = PACKAGE / "line"
    offenders = [
        str(p)
        for p in sources()
        if line not in p.parents and re.search(r"^\s*(?:from|import) linebot", p.read_text(), re.M)
    ]
    assert offenders == [], "call LINE through enishi.line.gateway.LineGateway"


DOORS = {"api.py", "routes.py"}  # with web/ and cli/: they hand the gateway to services
POLLERS = {"delivery/planner.py", "webhook/processor.py"}  # worker jobs, doors of their own


def test_services_receive_the_gateway_from_the_doors():
    offenders = []
    for path in sources():
        relative = path.relative_to(PACKAGE)
        door = (
            path.name in DOORS
            or relative.parts[0] in ("web", "cli")
            or relative.as_posix() in POLLERS | {"deps.py"}
        )
        if not door and ".line_for(" in path.read_text():
            offenders.append(str(relative))
    assert offenders == [], "services take `line: LineGateway` as a keyword argument"


def test_tests_refuse_line_calls_inside_write_transactions():
    """Every test app raises on a LINE call inside a write transaction, so each flow the
    suite drives against the emulator proves the rule (production logs it instead)."""
    from tests.conftest import make_settings

    assert make_settings("sqlite://").line_in_write_transaction == "raise"


# The top of the import graph: modules that assemble the rooms and may import any of them.
COMPOSITION = {"app", "api", "models", "wiring", "cli", "web", "worker", "hot_paths", "migrations"}


def import_graph() -> dict[str, set[str]]:
    """enishi's top-level packages and modules -> those they import (imports inside
    functions and TYPE_CHECKING blocks count)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        room = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        found = re.finditer(r"^\s*(?:from|import) enishi\.(\w+)", path.read_text(), re.M)
        graph.setdefault(room, set()).update(m.group(1) for m in found if m.group(1) != room)
    return graph


def test_the_rooms_import_each_other_without_a_cycle():
    """Layering, bottom up: shared infrastructure (config, db, kit, line, deps, events,
    audit) →
    accounts, operators → friends → the domains built on friends (inflow, members,
    tracking; segments, whose conditions those domains register) → delivery, analytics,
    webhook → the composition layer (app, api, models, wiring, cli, web, worker,
    hot_paths, migrations), which may import anything and which nothing below imports.
    A lower room that needs something from above takes it through a registry filled by
    enishi/wiring.py (timeline sources, rollups, segment conditions, event subscribers)."""
    graph = import_graph()
    below = {room: deps for room, deps in graph.items() if room not in COMPOSITION}
    upward = {(room, dep) for room, deps in below.items() for dep in deps if dep in COMPOSITION}
    assert upward == set(), "only the composition layer imports the composition layer"
    done: set[str] = set()

    def visit(room: str, path: list[str]) -> None:
        if room in path:
            cycle = path[path.index(room) :] + [room]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if room in done:
            return
        for dep in sorted(below.get(room, ())):
            visit(dep, [*path, room])
        done.add(room)

    for room in sorted(below):
        visit(room, [])


def test_friends_and_segments_import_no_domain_above_them():
    graph = import_graph()
    assert graph["friends"] <= {"accounts", "audit", "db", "deps", "events", "kit"}
    assert graph["segments"] <= {"accounts", "audit", "db", "deps", "friends", "kit"}
    assert graph["audit"] <= {"db"}  # every service records its audited actions
    assert graph["events"] <= {"db"}
