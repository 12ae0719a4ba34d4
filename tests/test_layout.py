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
