"""The durable spool: reports wait in SQLite (WAL) until the xpander API acknowledges them.

A report is written here before any network call, so a crash loses nothing that was exported. Several
processes may share one file: a row being sent is leased to its sender (pid + expiry), and a lease held
by a process that died is released when the next process starts. Each row carries a version, so an
update that arrives while the previous body is in flight is not deleted by that send's acknowledgement.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    key TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created REAL NOT NULL,
    owner INTEGER,
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reports_due ON reports (next_attempt);
"""


@dataclass(frozen=True, slots=True)
class SpooledReport:
    key: str
    agent_id: str
    body: str
    version: int
    attempts: int
    created: float


class Spool:
    """Reports waiting for delivery, keyed by agent id and task id (a newer body replaces an older one)."""

    def __init__(self, path: str | Path = MEMORY, *, max_rows: int = 10_000) -> None:
        self.path = str(path)
        self.max_rows = max_rows
        if self.path != MEMORY:
            # Reports hold the users' task inputs and results: a folder of their own, private to them.
            Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: autocommit, with explicit transactions where several statements belong together.
        self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        with self._lock:
            if self.path != MEMORY:
                self._db.execute("PRAGMA journal_mode=WAL")
                # In WAL mode NORMAL survives a killed process; only a power cut may lose the last commits.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def put(self, items: list[tuple[str, str, str]], now: float | None = None) -> int:
        """Store ``(key, agent_id, body)`` rows; return how many old rows the size cap pushed out."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO reports (key, agent_id, body, next_attempt, created) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET body = excluded.body, agent_id = excluded.agent_id, "
                    "version = version + 1, next_attempt = min(next_attempt, excluded.next_attempt) "
                    "WHERE body != excluded.body",
                    [(key, agent_id, body, now, now) for key, agent_id, body in items],
                )
                over = self._db.execute("SELECT count(*) FROM reports").fetchone()[0] - self.max_rows
                if over > 0:
                    self._db.execute("DELETE FROM reports WHERE key IN "
                                     "(SELECT key FROM reports ORDER BY created LIMIT ?)", (over,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return max(over, 0)

    def claim_next(self, now: float, lease_s: float) -> SpooledReport | None:
        """Lease the next due row to this process, or None when nothing is due."""
        pid = os.getpid()
        with self._lock:
            row = self._db.execute(
                "SELECT key, agent_id, body, version, attempts, created FROM reports "
                "WHERE next_attempt <= ? AND (owner IS NULL OR lease_until < ?) "
                "ORDER BY next_attempt, created LIMIT 1",
                (now, now),
            ).fetchone()
            if row is None:
                return None
            claimed = self._db.execute(
                "UPDATE reports SET owner = ?, lease_until = ? WHERE key = ? AND version = ? "
                "AND (owner IS NULL OR lease_until < ?)",
                (pid, now + lease_s, row[0], row[3], now),
            ).rowcount
        return SpooledReport(*row) if claimed else None

    def delete(self, report: SpooledReport) -> None:
        """Forget a delivered (or refused) report, unless a newer body replaced it meanwhile."""
        with self._lock:
            deleted = self._db.execute("DELETE FROM reports WHERE key = ? AND version = ?",
                                       (report.key, report.version)).rowcount
            if not deleted:
                self._release(report.key)

    def retry_at(self, report: SpooledReport, when: float) -> None:
        with self._lock:
            self._db.execute("UPDATE reports SET attempts = attempts + 1, next_attempt = max(next_attempt, ?), "
                             "owner = NULL, lease_until = 0 WHERE key = ? AND version = ?",
                             (when, report.key, report.version))
            self._release(report.key)

    def _release(self, key: str) -> None:
        self._db.execute("UPDATE reports SET owner = NULL, lease_until = 0 WHERE key = ? AND owner = ?",
                         (key, os.getpid()))

    def release_dead_owners(self) -> int:
        """Free rows leased by processes that no longer run (a sender killed mid-request)."""
        with self._lock:
            owners = [o for (o,) in self._db.execute(
                "SELECT DISTINCT owner FROM reports WHERE owner IS NOT NULL AND owner != ?", (os.getpid(),))]
            dead = [o for o in owners if not _alive(o)]
            for owner in dead:
                self._db.execute("UPDATE reports SET owner = NULL, lease_until = 0 WHERE owner = ?", (owner,))
        return len(dead)

    def make_all_due(self, now: float | None = None) -> None:
        """A starting process replays the spool at once: backoffs belonged to the previous process."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("UPDATE reports SET next_attempt = ? WHERE next_attempt > ? AND owner IS NULL",
                             (now, now))

    def next_due(self) -> float | None:
        """When the earliest row becomes due (wall-clock seconds), or None when the spool is empty."""
        with self._lock:
            return self._db.execute("SELECT min(next_attempt) FROM reports").fetchone()[0]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM reports").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it on Windows: wait for the lease to expire instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
