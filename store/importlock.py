"""One import at a time per database: a second one is refused, never interleaved.

Two imports of the same database at once would each delete the data and insert their own
rows; on PostgreSQL the second's DELETE does not see the first's new rows, so the result is a
mixture or a key violation after a long wait. So an import first takes a lock, and an import
that finds it taken is refused at once with who holds it and since when (`ImportRunning`, an
`ImportRefused`: nothing changed, recorded in the audit log like any refusal).

The lock must never outlive a process killed with kill -9, so it is one that the operating
system or the database server releases when its holder dies — no row or file that says
"locked" and would have to be cleaned up:

- PostgreSQL: a transaction-level advisory lock (`pg_try_advisory_xact_lock`) taken in the
  import's own transaction. It ends with the transaction: at the commit, at the rollback, or
  when the server sees the connection close. The key is the oid of this schema's
  `import_batches` table, so that imports into different schemas of one database (the tests,
  or two dashboards) do not block each other. Who holds it comes from `pg_stat_activity`
  (the transaction's start, and `application_name` set for the transaction only).
- SQLite: an exclusive `fcntl.flock` on a file beside the database (`equity.db.import-lock`),
  which the kernel releases when the process dies; the holder writes who and since when into
  it. Not SQLite's own write lock (BEGIN IMMEDIATE with a zero busy timeout): that would also
  refuse an import while the app saves a tracker edit or an audit row for a moment, and the
  refusal could not say who is importing. SQLite also lets no one else write while the
  import's transaction is open, so the audit row of an import refused meanwhile cannot be
  written at once: it waits in `equity.db.import-refusals`, and the running import writes it
  (details.refused_at: when it was refused) when it ends — or, if that import was killed, the
  next import when it takes the lock. Where `fcntl` does not exist (Windows) no file lock
  is taken and SQLite's write lock still serialises two imports: the second waits, then
  replaces the first's data.
"""
from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from store import access, audit
from store.problems import ImportRefused, Problems

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

# High 32 bits of the advisory lock key: this application's imports.
_TAG = 0x45510001
_APPLICATION = "equity import by "


class ImportRunning(ImportRefused):
    """Another import of the same database is running; nothing was changed."""

    def __init__(self, since: datetime | None, by: str | None) -> None:
        self.since, self.by = since, by
        what = "another import is running"
        if since is not None:
            what += f" since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        if by:
            what += f", started by {by}"
        problems = Problems()
        problems.add("database", None, None, None, what)
        self.problems = problems
        Exception.__init__(self, f"Import refused: {what}; the database was not changed. "
                                 "Try again when it has finished.")


class ImportLock:
    """Taken by `acquire` inside the import's transaction, let go by `release` after it."""

    def __init__(self) -> None:
        self._file: int | None = None
        self._engine = None
        self._queue: Path | None = None  # where a refusal waits for its audit row (SQLite)

    def acquire(self, conn: Connection, actor: str) -> None:
        """Take the lock for `conn`'s open transaction, or raise ImportRunning."""
        if conn.dialect.name == "postgresql":
            _postgres(conn, actor)
        elif conn.dialect.name == "sqlite":
            path = sidecar(conn.engine.url)
            if path is not None and fcntl is not None:
                queue = path.with_suffix(".import-refusals")
                try:
                    self._file = _flock(path, actor)
                except ImportRunning:
                    self._queue = queue
                    raise
                self._engine = conn.engine
                # Before this import writes anything: a killed import's waiting refusals.
                _record_waiting(queue, self._engine)

    def record_refusal(self, details: dict, database_url: str | None) -> None:
        """The audit row of a refused import: now, or (SQLite, refused because another
        import holds the database) handed to that import."""
        if self._queue is None:
            audit.record("import_refused", details, database_url=database_url)
            return
        line = json.dumps({"actor": access.current_user().label,
                           "details": {**details, "refused_at": audit.now().isoformat()}},
                          default=str)
        descriptor = os.open(self._queue, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, line.encode() + b"\n")
        finally:
            os.close(descriptor)

    def release(self) -> None:
        if self._file is None:
            return
        try:
            _record_waiting(sidecar(self._engine.url).with_suffix(".import-refusals"),
                            self._engine)
        finally:
            with contextlib.suppress(OSError):  # no holder named once it has finished
                os.ftruncate(self._file, 0)
            os.close(self._file)  # closing the descriptor lets go of the flock
            self._file = None


def sidecar(url) -> Path | None:
    """The lock file of a SQLite database file (None for an in-memory database)."""
    database = make_url(str(url)).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + ".import-lock")


def _flock(path: Path, actor: str) -> int:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(descriptor)
        os.close(descriptor)
        raise ImportRunning(_moment(holder.get("since")), holder.get("by")) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, json.dumps({"since": datetime.now(UTC).isoformat(), "by": actor,
                                     "pid": os.getpid()}).encode())
    return descriptor


def running_import(url) -> ImportRunning | None:
    """The import writing into this SQLite database now, as its lock file names it (who and
    since when), or None. Read without taking the lock (a test lock could refuse an import
    starting that instant): the holder's process must still be alive on this machine."""
    path = sidecar(url) if make_url(str(url)).get_backend_name() == "sqlite" else None
    if path is None or not path.exists():
        return None
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            holder = _read_holder(descriptor)
        finally:
            os.close(descriptor)
        pid = holder.get("pid")
        if isinstance(pid, int) and pid > 0 and _alive(pid):
            return ImportRunning(_moment(holder.get("since")), holder.get("by"))
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: is there such a process (nothing is sent)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record_waiting(queue: Path, engine) -> None:
    """Write the audit rows of the refusals waiting in `queue`, then empty it."""
    if not queue.exists():
        return
    descriptor = os.open(queue, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        waiting = b""
        while chunk := os.read(descriptor, 1 << 16):
            waiting += chunk
        entries = [json.loads(line) for line in waiting.decode().splitlines() if line.strip()]
        if entries:
            with engine.begin() as conn:
                for entry in entries:
                    audit.record("import_refused", entry["details"], actor=entry["actor"],
                                 conn=conn)
        os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)


def _read_holder(descriptor: int) -> dict:
    # The holder may be between taking the lock and writing its name: then no details.
    with contextlib.suppress(OSError, ValueError):
        os.lseek(descriptor, 0, os.SEEK_SET)
        found = json.loads(os.read(descriptor, 4096) or b"{}")
        if isinstance(found, dict):
            return found
    return {}


def _moment(value) -> datetime | None:
    with contextlib.suppress(TypeError, ValueError):
        return datetime.fromisoformat(value)
    return None


def _postgres(conn: Connection, actor: str) -> None:
    table = conn.execute(text("SELECT to_regclass('import_batches')::oid::bigint")).scalar_one()
    taken = conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                         {"key": (_TAG << 32) | table}).scalar_one()
    if taken:
        # Reverts at the end of the transaction (is_local): the pooled connection keeps
        # its own name. ASCII only and at most 63 bytes is what PostgreSQL keeps.
        name = (_APPLICATION + actor).encode("ascii", "replace").decode()[:63]
        conn.execute(text("SELECT set_config('application_name', :name, true)"),
                     {"name": name})
        return
    holder = conn.execute(text(
        "SELECT a.xact_start, a.application_name FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :tag "
        "AND l.objid = :table AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"tag": _TAG, "table": table}).first()
    since, name = (holder.xact_start, holder.application_name) if holder else (None, None)
    by = name[len(_APPLICATION):] if name and name.startswith(_APPLICATION) else None
    raise ImportRunning(since, by)
