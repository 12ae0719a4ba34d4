"""Regenerate migration 0001 from the models (development only, before the first release).

Writes to a temporary file first (Alembic's env.py imports every model there), so a model
that fails to import never leaves the project without a migration.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from alembic import command

from enishi.db.migrate import MIGRATIONS, alembic_config


def main() -> None:
    versions = MIGRATIONS / "versions"
    with tempfile.TemporaryDirectory() as scratch:
        scratch_migrations = Path(scratch) / "migrations"
        shutil.copytree(
            MIGRATIONS, scratch_migrations, ignore=shutil.ignore_patterns("__pycache__")
        )
        for old in (scratch_migrations / "versions").glob("0001_*.py"):
            old.unlink()
        config = alembic_config(f"sqlite:///{scratch}/empty.db")
        config.set_main_option("script_location", str(scratch_migrations))
        command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
        generated = next((scratch_migrations / "versions").glob("0001_*.py"))
        for old in versions.glob("0001_*.py"):
            old.unlink()
        shutil.copy(generated, versions / generated.name)
    print(f"regenerated {versions}/0001_initial_schema.py")


if __name__ == "__main__":
    main()
