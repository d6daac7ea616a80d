"""Storage: concurrent reporters lose nothing, and a restart keeps every task and agent."""

from __future__ import annotations

import signal
import sqlite3
import threading

import httpx

from _devserver import DevServerProcess
from xpander_otel import Tokens

TASKS_PER_REPORTER = 1_000


def test_two_concurrent_reporters_writing_1000_tasks_each_lose_none(devserver):
    agent = devserver.create_agent("Concurrent")
    errors: list[BaseException] = []

    def reporter(name: str) -> None:
        backend = devserver.backend()  # one client (connection pool) per reporter
        try:
            for n in range(TASKS_PER_REPORTER):
                backend.report_external_task(agent_id=agent["id"], id=f"{name}-{n}", input=f"{name} {n}",
                                             result=str(n), tokens=Tokens(prompt_tokens=n, completion_tokens=1))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            backend.close()

    threads = [threading.Thread(target=reporter, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)

    assert errors == []
    ids: set[str] = set()
    offset = 0
    while True:
        page = httpx.get(f"{devserver.url}/tasks", params={"agent_id": agent["id"], "limit": 500,
                                                           "offset": offset}).json()
        assert page["total"] == 2 * TASKS_PER_REPORTER
        ids.update(t["id"] for t in page["items"])
        offset += 500
        if offset >= page["total"]:
            break
    assert ids == {f"{name}-{n}" for name in ("a", "b") for n in range(TASKS_PER_REPORTER)}
    sample = httpx.get(f"{devserver.url}/tasks/b-999").json()
    assert (sample["input"]["text"], sample["result"], sample["tokens"]["total_tokens"]) == ("b 999", "999", 1000)


def test_restart_keeps_all_tasks_and_agents(tmp_path):
    db = tmp_path / "restart.sqlite3"
    with DevServerProcess(db) as server:
        agent = server.create_agent("Survivor", id="survivor")
        backend = server.backend()
        for n in range(5):
            backend.report_external_task(agent_id="survivor", id=f"r-{n}", input=f"in {n}", result=f"out {n}",
                                         tokens=Tokens(prompt_tokens=10, completion_tokens=n), duration=n / 2,
                                         used_tools=["t1", "t2"][: n % 3])
        before = httpx.get(f"{server.url}/tasks", params={"agent_id": "survivor"}).json()
    # SIGTERM shuts down cleanly: uvicorn exits by the signal, and the storage was closed first
    # (closing the last connection checkpoints the WAL into the database and removes the -wal file).
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert not db.with_name(db.name + "-wal").exists()

    # The journal is WAL, and the file is a plain SQLite database anyone can read.
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT COUNT(*) FROM tasks WHERE agent_id = 'survivor'").fetchone()[0] == 5

    with DevServerProcess(db) as again:
        after = httpx.get(f"{again.url}/tasks", params={"agent_id": "survivor"}).json()
        assert httpx.get(f"{again.url}/agents/survivor").json()["name"] == agent["name"]
    assert after == before
    assert after["total"] == 5
    assert [t["used_tools"] for t in after["items"]] == [["t1"], [], ["t1", "t2"], ["t1"], []]
