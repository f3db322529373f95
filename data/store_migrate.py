"""Opening a store file at the right schema version: migrations applied in order.

`migrate` reads the file's version (the highest row of `schema_version`; 0 for an empty
file), refuses a file newer than the code, and applies each missing migration of
`data.schema.MIGRATIONS` in its own transaction together with its `schema_version` row, so
a failed migration leaves the file at the previous version.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from data.schema import Migration
from engine.errors import PhalanxError


class StoreError(PhalanxError):
    """The store file cannot be used as asked (missing, not a store, locked, or a write
    failed and was rolled back). The message says which; nothing was half-written."""


class SchemaVersionError(StoreError):
    """The file's schema version does not match this code: newer files need newer code;
    older files are migrated when opened read-write."""


def code_version() -> str:
    """`phalanx <version>` plus the git commit when run from a checkout (read, not run)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        text = f"phalanx {version('phalanx')}"
    except PackageNotFoundError:
        text = "phalanx (not installed)"
    git = Path(__file__).resolve().parents[1] / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            loose = git / ref
            head = loose.read_text().strip() if loose.exists() else next(
                line.split()[0] for line in (git / "packed-refs").read_text().splitlines()
                if line.endswith(" " + ref))
        return f"{text} ({head[:12]})"
    except (OSError, StopIteration):
        return text


def migrate(con: duckdb.DuckDBPyConnection, path: Path, migrations: tuple[Migration, ...],
            read_only: bool) -> int:
    """Bring the file at `con` to the last of `migrations`; returns that version."""
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database()").fetchall()}
    current = (con.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
               if "schema_version" in tables else 0)
    latest = len(migrations)
    if current == 0 and tables - {"schema_version"}:
        raise StoreError(f"{path}: not a Phalanx store (tables {sorted(tables)} but no "
                         "schema_version)")
    if current > latest:
        raise SchemaVersionError(f"{path} has schema version {current}, newer than this "
                                 f"code's {latest}: upgrade Phalanx (the file is untouched)")
    if current < latest and read_only:
        raise SchemaVersionError(f"{path} has schema version {current}, this code needs "
                                 f"{latest}: open it once read-write to migrate it")
    for migration in migrations[current:]:
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in migration.statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?, ?)",
                        [migration.version, migration.description, time.time_ns(),
                         code_version()])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"{path}: migration {migration.version} failed (rolled back): "
                             f"{' '.join(str(exc).split())}") from None
    return latest
