"""The durable spool: reports wait in SQLite (WAL) until the xpander API acknowledges them.

A report is written here before any network call, so a crash loses nothing that was exported. Several
processes may share one file: a row being sent is leased to its sender (pid + expiry), and a lease held
by a process that died is released when the next process starts. Each row carries a version, so an
update that arrives while the previous body is in flight is not deleted by that send's acknowledgement;
it waits (unleased, due) until that send ends, so two bodies of one task are never in flight at once.

``put_and_claim`` writes a batch (one statement when every row is new) and leases its new rows to the
writing process at once, so they can be handed to its senders in memory; the table stays the record
senders fall back on (retries, replays after a restart, rows of other processes).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MEMORY = ":memory:"
# Rows one statement deletes at most (three bound values each; a quarter of it inserted, seven values each):
# under SQLite's oldest limit of 999 bound values.
_ROWS_PER_STATEMENT = 256

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
-- Senders lease rows in (next_attempt, created) order: the index gives that order without a sort (a batch
-- of reports shares both times, and a sort of all rows sharing them cost more than the lease itself).
CREATE INDEX IF NOT EXISTS reports_due_order ON reports (next_attempt, created);
DROP INDEX IF EXISTS reports_due;
"""


def _chunks(items: list, size: int) -> Iterator[list]:
    """``items`` in slices of ``size`` at most: one statement each (SQLite limits the bound values)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(frozen=True, slots=True)
class SpooledReport:
    key: str
    agent_id: str
    body: str
    version: int
    attempts: int
    created: float
    lease_until: float = 0.0  # while this process holds the row (0 when read without a lease)


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
        """Store ``(key, agent_id, body)`` rows for any sender; return how many old rows the cap pushed out."""
        pushed_out, _ = self.put_and_claim(items, lease_s=0.0, limit=0, now=now)
        return pushed_out

    def put_and_claim(self, items: list[tuple[str, str, str]], *, lease_s: float, limit: int,
                      now: float | None = None) -> tuple[int, list[SpooledReport]]:
        """Store rows and lease up to ``limit`` of the new or changed ones to this process.

        Returns how many old rows the size cap pushed out, and the leased rows (to send now). A row whose
        previous body is in flight is updated but not leased: it goes out when that send ends.

        The usual batch (every task new) is one INSERT (the cap's check too once rowids pass the cap): each
        statement lets go of the GIL and, next to a busy application thread, waits up to a switch interval
        to get it back. A batch that updates rows already spooled settles those in one transaction.
        """
        now = time.time() if now is None else now
        owner, lease_until = os.getpid(), now + lease_s
        # A batch may hold two bodies of one task: only the last one counts.
        latest = {key: (agent_id, body) for key, agent_id, body in items}
        rows = [(key, agent_id, body, now, now, *((owner, lease_until) if n < limit else (None, 0.0)))
                for n, (key, (agent_id, body)) in enumerate(latest.items())]
        with self._lock:
            inserted, newest_rowid = self._insert(rows)
            if inserted == len(rows):
                claimed = [SpooledReport(key, agent_id, body, 1, 0, now, lease_until)
                           for key, agent_id, body, _, _, row_owner, _ in rows if row_owner is not None]
            else:
                claimed = self._settle_existing(rows, now, (owner, lease_until), limit)
            # A new row gets the largest rowid and rowids are distinct positive integers, so the table holds
            # at most that many rows: within the cap (as a spool that empties keeps it, SQLite numbering
            # from 1 again), its check is a statement saved.
            pushed_out = self._enforce_cap() if inserted and newest_rowid > self.max_rows else 0
        return pushed_out, claimed

    def _insert(self, rows: list[tuple]) -> tuple[int, int]:
        """Insert the rows whose key is not spooled yet; return how many were and the newest rowid."""
        inserted = newest_rowid = 0
        for chunk in _chunks(rows, _ROWS_PER_STATEMENT // 4):
            cursor = self._db.execute(
                "INSERT INTO reports (key, agent_id, body, next_attempt, created, owner, lease_until) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk)) + " ON CONFLICT(key) DO NOTHING",
                [value for row in chunk for value in row])
            if cursor.rowcount:
                inserted += cursor.rowcount
                newest_rowid = max(newest_rowid, cursor.lastrowid or self.max_rows + 1)  # unknown: check
        return inserted, newest_rowid

    def _settle_existing(self, rows: list[tuple], now: float, lease: tuple[int, float],
                         limit: int) -> list[SpooledReport]:
        """After ``_insert`` left some keys out (spooled already): update those rows with the new bodies."""
        claimed: list[SpooledReport] = []
        latest_body = {row[0]: row[2] for row in rows}.get
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # Rows this call inserted: version 1, created now with this body (leased to us if within the limit).
            ours: dict[str, tuple[int | None, float]] = {}
            for chunk in _chunks(rows, _ROWS_PER_STATEMENT):
                keys = [row[0] for row in chunk]
                for key, version, created, body, row_owner, row_lease in self._db.execute(
                        "SELECT key, version, created, body, owner, lease_until FROM reports WHERE key IN "
                        f"({', '.join('?' * len(keys))})", keys):
                    if version == 1 and created == now and body == latest_body(key):
                        ours[key] = (row_owner, row_lease)
            for key, agent_id, body, *_ in rows:
                if ours.get(key) == lease:
                    claimed.append(SpooledReport(key, agent_id, body, 1, 0, now, lease[1]))
                    continue
                changed = key in ours or self._db.execute(
                    "UPDATE reports SET body = ?, agent_id = ?, version = version + 1, "
                    "next_attempt = min(next_attempt, ?) WHERE key = ? AND body != ?",
                    (body, agent_id, now, key, body)).rowcount
                report = self._claim_key(key, now, lease) if changed and len(claimed) < limit else None
                if report is not None:
                    claimed.append(report)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return claimed

    def _enforce_cap(self) -> int:
        # count(*) reads every row: first a bound from the rowids (two index lookups); the rows lie between.
        first, last = self._db.execute(
            "SELECT (SELECT min(rowid) FROM reports), (SELECT max(rowid) FROM reports)").fetchone()
        if first is None or last - first + 1 <= self.max_rows:
            return 0
        over = self._db.execute("SELECT count(*) FROM reports").fetchone()[0] - self.max_rows
        if over <= 0:
            return 0
        self._db.execute("DELETE FROM reports WHERE key IN (SELECT key FROM reports ORDER BY created LIMIT ?)",
                         (over,))
        return over

    def claim(self, key: str, now: float, lease_s: float) -> SpooledReport | None:
        """Lease the row of ``key`` to this process if it is due and nobody is sending it."""
        with self._lock:
            return self._claim_key(key, now, (os.getpid(), now + lease_s))

    def _claim_key(self, key: str, now: float, lease: tuple[int, float]) -> SpooledReport | None:
        claimed = self._db.execute(
            "UPDATE reports SET owner = ?, lease_until = ? WHERE key = ? AND next_attempt <= ? "
            "AND (owner IS NULL OR lease_until < ?)", (*lease, key, now, now)).rowcount
        if not claimed:
            return None
        row = self._db.execute("SELECT key, agent_id, body, version, attempts, created FROM reports WHERE key = ?",
                               (key,)).fetchone()
        return SpooledReport(*row, lease_until=lease[1])

    def claim_due(self, now: float, lease_s: float, limit: int) -> list[SpooledReport]:
        """Lease up to ``limit`` due rows that nobody is sending to this process, oldest due first."""
        lease_until = now + lease_s
        with self._lock:
            rows = self._db.execute(
                "SELECT key, agent_id, body, version, attempts, created FROM reports "
                "WHERE next_attempt <= ? AND (owner IS NULL OR lease_until < ?) "
                "ORDER BY next_attempt, created LIMIT ?", (now, now, limit)).fetchall()
            if not rows:
                return []
            claimed = []
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:  # another process may have taken or changed a row since the SELECT
                    if self._db.execute(
                            "UPDATE reports SET owner = ?, lease_until = ? WHERE key = ? AND version = ? "
                            "AND (owner IS NULL OR lease_until < ?)",
                            (os.getpid(), lease_until, row[0], row[3], now)).rowcount:
                        claimed.append(SpooledReport(*row, lease_until=lease_until))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return claimed

    def claim_next(self, now: float, lease_s: float) -> SpooledReport | None:
        """Lease the next due row to this process, or None when nothing is due."""
        claimed = self.claim_due(now, lease_s, 1)
        return claimed[0] if claimed else None

    def delete(self, report: SpooledReport) -> bool:
        """Forget a delivered (or refused) report; False (lease released) if a newer body replaced it."""
        return not self.delete_all([report])

    def delete_all(self, reports: list[SpooledReport]) -> list[SpooledReport]:
        """Forget delivered reports; return those a newer body replaced meanwhile (their lease released).

        One statement for the lot: each statement lets go of the GIL and, next to a busy application
        thread, waits up to a switch interval to get it back.
        """
        replaced: list[SpooledReport] = []
        with self._lock:
            for chunk in _chunks(reports, _ROWS_PER_STATEMENT):
                # By key (the primary key's index), each row's version checked against the acknowledged one.
                deleted = self._db.execute(
                    f"DELETE FROM reports WHERE key IN ({', '.join('?' * len(chunk))}) AND version = CASE key "
                    + " ".join(["WHEN ? THEN ?"] * len(chunk)) + " END",
                    [*(report.key for report in chunk),
                     *(value for report in chunk for value in (report.key, report.version))]).rowcount
                if deleted == len(chunk):
                    continue
                for report in chunk:  # a row still here carries a newer body
                    if self._db.execute("SELECT 1 FROM reports WHERE key = ?", (report.key,)).fetchone():
                        self._release(report.key)
                        replaced.append(report)
        return replaced

    def retry_at(self, report: SpooledReport, when: float) -> None:
        """Send again at ``when``; a newer body that replaced this one meanwhile stays due now."""
        with self._lock:
            self._db.execute("UPDATE reports SET attempts = attempts + 1, next_attempt = max(next_attempt, ?), "
                             "owner = NULL, lease_until = 0 WHERE key = ? AND version = ?",
                             (when, report.key, report.version))
            self._release(report.key)

    def release(self, report: SpooledReport) -> None:
        """Give a leased row back unsent (it stays due for any sender)."""
        with self._lock:
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
        """When the earliest row nobody is sending becomes due (wall-clock seconds), or None if there is none."""
        with self._lock:
            return self._db.execute("SELECT min(next_attempt) FROM reports WHERE owner IS NULL").fetchone()[0]

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
