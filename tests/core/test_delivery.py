"""Delivery against a real HTTP server: retries, Retry-After, refused connections, refusals, replay."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from _servers import Reply, free_port
from xpander_otel import Configuration, TaskReport, Tokens
from xpander_otel.exporter.delivery import Delivery, RetryPolicy
from xpander_otel.exporter.spool import Spool

API_KEY = "xpk-test-0123456789"
PATH = "/agent-execution/agent-1/report_task"
FAST = RetryPolicy(base_s=0.05, max_s=0.2)


def report(n: int = 1) -> TaskReport:
    return TaskReport(id=f"task-{n}", input=f"question {n}", result="answer", duration=1.5,
                      tokens=Tokens(prompt_tokens=10 * n, completion_tokens=n), used_tools=["get_weather"])


def delivery(spool: Spool, url: str, **kw) -> Delivery:
    kw.setdefault("policy", FAST)
    return Delivery(spool, Configuration(api_key=API_KEY, base_url=url), request_timeout_s=2.0, **kw)


def posted(recorder) -> list[dict]:
    return [r.json() for r in recorder.requests if r.path == PATH]


@pytest.fixture
def spool(tmp_path):
    s = Spool(tmp_path / "spool.sqlite3")
    yield s


def test_a_report_is_posted_like_report_external_task(recorder, spool):
    d = delivery(spool, recorder.url)
    assert d.submit([("agent-1", report())])
    assert d.force_flush(5)
    [request] = recorder.requests
    assert (request.method, request.path) == ("POST", PATH)
    assert request.headers["x-api-key"] == API_KEY
    assert request.json() == report().to_wire()
    assert spool.count() == 0
    d.shutdown(1)


def test_503s_are_retried_until_the_report_arrives_once(recorder, spool):
    recorder.reply("POST", PATH, Reply(503), Reply(503), Reply(503), Reply(200, {"id": "task-1"}))
    d = delivery(spool, recorder.url)
    started = time.monotonic()
    d.submit([("agent-1", report())])
    assert time.monotonic() - started < 0.5  # the caller never waits for the network
    assert d.force_flush(10)
    assert posted(recorder) == [report().to_wire()] * 4
    assert (d.delivered, d.dropped, spool.count()) == (1, 0, 0)
    d.shutdown(1)


def test_429_retry_after_is_honoured(recorder, spool):
    recorder.reply("POST", PATH, Reply(429, {"detail": "slow down"}, {"Retry-After": "1"}), Reply(200, {}))
    d = delivery(spool, recorder.url)
    started = time.monotonic()
    d.submit([("agent-1", report())])
    assert d.force_flush(10)
    elapsed = time.monotonic() - started
    assert 0.95 <= elapsed < 5  # backoff alone would have retried after <= 0.2 s
    assert posted(recorder) == [report().to_wire()] * 2
    d.shutdown(1)


def test_refused_connections_keep_the_report_spooled_for_the_next_start(recorder, tmp_path, caplog):
    path = tmp_path / "spool.sqlite3"
    down = delivery(Spool(path), f"http://127.0.0.1:{free_port()}")
    down.submit([("agent-1", report(1)), ("agent-1", report(2))])
    assert down.force_flush(0.5) is False
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="xpander_otel"):
        assert down.shutdown(0.2) is False
    assert time.monotonic() - started < 2.5
    assert [r.getMessage() for r in caplog.records] == [
        f"xpander-otel: 2 task report(s) not delivered yet; they stay in {path} and are sent on the next start"]
    assert Spool(path).count() == 2

    up = delivery(Spool(path), recorder.url)  # a new process starting on the same spool
    assert up.force_flush(10)
    assert sorted(posted(recorder), key=lambda b: b["id"]) == [report(1).to_wire(), report(2).to_wire()]
    up.shutdown(1)


@pytest.mark.parametrize(("status", "advice"), [
    (401, "set XPANDER_API_KEY"),
    (403, "check XPANDER_API_KEY and XPANDER_ORGANIZATION_ID"),
    (404, "check XPANDER_AGENT_ID"),
    (422, "the report was refused"),
])
def test_client_errors_are_dropped_with_one_clear_log_line(recorder, spool, caplog, status, advice):
    recorder.reply("POST", PATH, Reply(status, {"detail": f"nope {API_KEY}"}))
    d = delivery(spool, recorder.url)
    with caplog.at_level(logging.DEBUG, logger="xpander_otel"):
        d.submit([("agent-1", report(1))])
        assert d.force_flush(5)
        d.submit([("agent-1", report(2))])
        assert d.force_flush(5)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert f"HTTP {status}" in errors[0] and advice in errors[0]
    assert API_KEY not in caplog.text  # the server echoed the key: the log line must not
    assert len(posted(recorder)) == 2  # no retries
    assert (d.delivered, d.dropped, spool.count()) == (0, 2, 0)
    d.shutdown(1)


def test_an_update_that_arrives_while_the_old_body_is_in_flight_is_not_deleted(spool):
    spool.put([("agent-1/task-1", "agent-1", report(1).model_dump_json())])
    in_flight = spool.claim_next(time.time(), 30)
    updated = report(1).model_copy(update={"result": "updated answer"}).model_dump_json()
    spool.put([("agent-1/task-1", "agent-1", updated)])
    spool.delete(in_flight)  # the old body was acknowledged
    again = spool.claim_next(time.time(), 30)
    assert again is not None and again.body == updated


def test_the_latest_body_of_a_task_is_the_one_that_arrives(recorder, spool):
    recorder.reply("POST", PATH, Reply(503), Reply(200, {}))
    d = delivery(spool, recorder.url)
    d.submit([("agent-1", report(1))])
    updated = report(1).model_copy(update={"result": "updated answer"})
    d.submit([("agent-1", updated)])
    assert d.force_flush(10)
    assert posted(recorder)[-1] == updated.to_wire()
    assert spool.count() == 0
    d.shutdown(1)


def test_spool_rows_leased_by_a_dead_process_are_released(tmp_path):
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    spool.put([("agent-1/task-1", "agent-1", report().model_dump_json())])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    spool._db.execute("UPDATE reports SET owner = ?, lease_until = ?", (dead.pid, time.time() + 3600))
    assert spool.claim_next(time.time(), 30) is None  # leased to someone else
    assert spool.release_dead_owners() == 1
    claimed = spool.claim_next(time.time(), 30)
    assert claimed is not None and claimed.key == "agent-1/task-1"


def test_spool_keeps_at_most_max_rows_dropping_the_oldest(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite3", max_rows=3)
    for n in range(5):
        spool.put([(f"a/{n}", "a", "{}")], now=float(n))
    keys = [row[0] for row in spool._db.execute("SELECT key FROM reports ORDER BY key")]
    assert keys == ["a/2", "a/3", "a/4"]
