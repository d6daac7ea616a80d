"""The dev server's SQLite database: agents (with versions) and reported tasks.

One connection in WAL mode, shared by the server's request handlers under a lock: writes are short
(one upsert), so serialising them is simpler than a pool and never loses a write. Several processes
may open the same file (WAL + a busy timeout), e.g. two servers or a server and a test.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..models import TaskReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE IF NOT EXISTS tasks (
    id            TEXT PRIMARY KEY,
    agent_id      TEXT NOT NULL,
    agent_version INTEGER,
    status        TEXT NOT NULL,
    input         TEXT,
    result        TEXT,
    is_success    INTEGER NOT NULL,
    tokens        TEXT NOT NULL,
    used_tools    TEXT NOT NULL,
    duration      REAL,
    llm_response  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_newest ON tasks (created_at DESC);
CREATE INDEX IF NOT EXISTS tasks_by_agent ON tasks (agent_id, created_at DESC);
"""

# Re-reporting an id updates the task in place: created_at stays, everything else is the latest report.
_UPSERT_TASK = """
INSERT INTO tasks (id, agent_id, agent_version, status, input, result, is_success, tokens, used_tools,
                   duration, llm_response, created_at, updated_at)
VALUES (:id, :agent_id, :agent_version, :status, :input, :result, :is_success, :tokens, :used_tools,
        :duration, :llm_response, :now, :now)
ON CONFLICT (id) DO UPDATE SET
    agent_id = excluded.agent_id, agent_version = excluded.agent_version, status = excluded.status,
    input = excluded.input, result = excluded.result, is_success = excluded.is_success,
    tokens = excluded.tokens, used_tools = excluded.used_tools, duration = excluded.duration,
    llm_response = excluded.llm_response, updated_at = excluded.updated_at
"""

TASK_STATUSES = ("completed", "failed")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class TaskPage:
    """One page of tasks, newest first, and how many match the filter in all."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


class Storage:
    """Agents and tasks in one SQLite file (created with its folders when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against process crashes in WAL mode; it skips an fsync per commit.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        self._add_wire_column()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _add_wire_column(self) -> None:
        # Databases made before tasks could be created over the worker protocol lack the column.
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(tasks)")}
        if "wire" not in columns:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it just now
                self._db.execute("ALTER TABLE tasks ADD COLUMN wire TEXT")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- agents ------------------------------------------------------------------------------------

    def save_agent(self, agent: dict[str, Any], *, new_version: bool) -> dict[str, Any]:
        """Store an agent. ``new_version``: add it as the next version of its id, else keep its own.

        Returns the stored body, with ``version`` and ``created_at`` filled in.
        """
        with self._transaction() as db:
            latest = db.execute("SELECT MAX(version) FROM agents WHERE id = ?", (agent["id"],)).fetchone()[0]
            if new_version or agent.get("version") is None:
                version = (latest or 0) + 1
            else:
                version = int(agent["version"])
            stored = {**agent, "version": version}
            stored.setdefault("created_at", _now())
            db.execute(
                "INSERT INTO agents (id, version, body, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id, version) DO UPDATE SET body = excluded.body",
                (agent["id"], version, json.dumps(stored), stored["created_at"]),
            )
        return stored

    def get_agent(self, agent_id: str, version: int | None = None) -> dict[str, Any] | None:
        """The agent's latest version, or the given one; None when there is no such agent (version)."""
        if version is None:
            rows = self._query("SELECT body FROM agents WHERE id = ? ORDER BY version DESC LIMIT 1", (agent_id,))
        else:
            rows = self._query("SELECT body FROM agents WHERE id = ? AND version = ?", (agent_id, version))
        return json.loads(rows[0]["body"]) if rows else None

    def list_agents(self) -> list[dict[str, Any]]:
        """The latest version of every agent, by name."""
        rows = self._query(
            "SELECT body FROM agents a WHERE version = (SELECT MAX(version) FROM agents b WHERE b.id = a.id)"
        )
        return sorted((json.loads(r["body"]) for r in rows), key=lambda a: (a.get("name") or "", a["id"]))

    # --- tasks -------------------------------------------------------------------------------------

    def save_report(self, agent_id: str, agent_version: int | None, report: TaskReport) -> dict[str, Any]:
        """Store one task report (insert, or update the task with the same id) and return the task."""
        if not report.id:
            raise ValueError("a stored report needs an id")
        tokens = report.tokens.model_dump() if report.tokens else {}
        row = {
            "id": report.id,
            "agent_id": agent_id,
            "agent_version": agent_version,
            "status": "completed" if report.is_success is not False else "failed",
            "input": report.input,
            "result": report.result,
            "is_success": 0 if report.is_success is False else 1,
            "tokens": json.dumps(tokens),
            "used_tools": json.dumps(list(report.used_tools or [])),
            "duration": report.duration,
            "llm_response": json.dumps(report.llm_response),
            "now": _now(),
        }
        with self._transaction() as db:
            db.execute(_UPSERT_TASK, row)
            stored = db.execute("SELECT * FROM tasks WHERE id = ?", (report.id,)).fetchone()
        return _task_row(stored)

    def get_task(self, task_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return _task_row(rows[0]) if rows else None

    def list_tasks(
        self, *, agent_id: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> TaskPage:
        """Tasks newest first, optionally of one agent and/or one status."""
        where, params = [], []
        if agent_id:
            where.append("agent_id = ?")
            params.append(agent_id)
        if status:
            where.append("status = ?")
            params.append(status)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM tasks {clause}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT * FROM tasks {clause} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return TaskPage([_task_row(r) for r in rows], total, limit, offset)


# Tasks created over the worker protocol (POST /agent-execution/{agent_id}) keep their whole JSON in
# ``wire``; the columns stay the truth for what pages and reports show (status, result, tokens, tools).
_UPSERT_WIRE_TASK = """
INSERT INTO tasks (id, agent_id, agent_version, status, input, result, is_success, tokens, used_tools,
                   duration, llm_response, created_at, updated_at, wire)
VALUES (:id, :agent_id, :agent_version, :status, :input, :result, :is_success, :tokens, :used_tools,
        :duration, NULL, :created_at, :now, :wire)
ON CONFLICT (id) DO UPDATE SET
    status = excluded.status, result = excluded.result, is_success = excluded.is_success,
    tokens = excluded.tokens, used_tools = excluded.used_tools, duration = excluded.duration,
    updated_at = excluded.updated_at, wire = excluded.wire
"""
_FAILED_STATUSES = ("error", "failed", "stopped")


class WireTasks:
    """The worker protocol's tasks in the dev server's ``tasks`` table (the events hub's ``TaskStore``)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def create_task(self, task: dict[str, Any]) -> dict[str, Any]:
        return self._save(task)

    def update_task(self, task_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        current = self.get_task(task_id)
        return None if current is None else self._save({**current, **fields})

    def get_task(self, task_id: str) -> dict[str, Any] | None:
        rows = self.storage._query("SELECT * FROM tasks WHERE id = ? AND wire IS NOT NULL", (task_id,))
        return _wire_task(rows[0]) if rows else None

    def pending_tasks(self, agent_id: str) -> list[dict[str, Any]]:
        rows = self.storage._query(
            "SELECT * FROM tasks WHERE agent_id = ? AND status = 'pending' AND wire IS NOT NULL "
            "ORDER BY created_at, rowid", (agent_id,))
        return [t for t in map(_wire_task, rows) if not t.get("run_locally")]

    def _save(self, task: dict[str, Any]) -> dict[str, Any]:
        version = str(task.get("agent_version") or "")
        task_input = task.get("input")
        row = {
            "id": task["id"],
            "agent_id": task["agent_id"],
            "agent_version": int(version) if version.isdigit() else None,
            "status": task.get("status") or "pending",
            "input": task_input.get("text") if isinstance(task_input, dict) else task_input,
            "result": task.get("result"),
            "is_success": 0 if task.get("status") in _FAILED_STATUSES else 1,
            "tokens": json.dumps(task.get("tokens") or {}),
            "used_tools": json.dumps(list(task.get("used_tools") or [])),
            "duration": task.get("duration"),
            "created_at": task.get("created_at") or _now(),
            "now": _now(),
            "wire": json.dumps(task, default=str),
        }
        with self.storage._transaction() as db:
            db.execute(_UPSERT_WIRE_TASK, row)
            stored = db.execute("SELECT * FROM tasks WHERE id = ?", (task["id"],)).fetchone()
        return _wire_task(stored)


def _wire_task(row: sqlite3.Row) -> dict[str, Any]:
    tokens = json.loads(row["tokens"])
    return {**json.loads(row["wire"]), "status": row["status"], "result": row["result"],
            "tokens": tokens or None, "used_tools": json.loads(row["used_tools"]), "duration": row["duration"]}


def _task_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "agent_id": row["agent_id"],
        "agent_version": row["agent_version"],
        "status": row["status"],
        "input": row["input"],
        "result": row["result"],
        "is_success": bool(row["is_success"]),
        "tokens": json.loads(row["tokens"]),
        "used_tools": json.loads(row["used_tools"]),
        "duration": row["duration"],
        "llm_response": json.loads(row["llm_response"]) if row["llm_response"] is not None else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
