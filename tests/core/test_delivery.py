"""Delivery against a real HTTP server: retries, Retry-After, refused connections, refusals, replay."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time

import httpx
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


def test_the_request_on_the_wire_is_the_one_report_external_task_sends(recorder, spool):
    from xpander_otel import Backend

    body = report().to_wire()
    Backend(Configuration(api_key=API_KEY, base_url=recorder.url)).report_external_task(
        agent_id="agent-1", id=body["id"], input=body["input"], result=body["result"], duration=body["duration"],
        tokens=report().tokens, used_tools=body["used_tools"])
    d = delivery(spool, recorder.url)
    assert d.submit([("agent-1", report())])
    assert d.force_flush(5)
    d.shutdown(1)
    by_backend, by_delivery = recorder.requests
    assert (by_delivery.method, by_delivery.path, by_delivery.json()) == ("POST", PATH, by_backend.json())
    assert by_delivery.headers == by_backend.headers


def test_reports_go_through_the_proxy_the_environment_names(spool, monkeypatch):
    import http.server

    seen: list[tuple[str, str, dict]] = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, self.headers["Host"], json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    # xpander.invalid does not resolve: a report can only arrive through the proxy.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    d = delivery(spool, "http://xpander.invalid")
    try:
        assert d.submit([("agent-1", report())])
        assert d.force_flush(5)
    finally:
        d.shutdown(1)
        proxy.shutdown()
    assert seen == [(f"http://xpander.invalid{PATH}", "xpander.invalid", report().to_wire())]


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


def test_delete_all_forgets_delivered_rows_and_returns_those_a_newer_body_replaced(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite3", max_rows=1000)
    _, leased = spool.put_and_claim([(f"a/{n}", "a", f"body {n}") for n in range(300)], lease_s=30, limit=300)
    assert len(leased) == 300
    spool.put([("a/7", "a", "newer body 7")])  # while body 7 is in flight
    replaced = spool.delete_all(leased)
    assert [report.key for report in replaced] == ["a/7"]
    assert spool._db.execute("SELECT key, body, version, owner FROM reports").fetchall() == [
        ("a/7", "newer body 7", 2, None)]  # kept, released: due for any sender


def test_the_usual_run_end_batch_takes_one_spool_statement_and_its_deletion_one(tmp_path):
    # Each statement lets go of the GIL: next to a busy application thread, a wait of up to 5 ms to get it back.
    spool = Spool(tmp_path / "spool.sqlite3")
    statements: list[str] = []
    spool._db.set_trace_callback(statements.append)
    _, leased = spool.put_and_claim([(f"a/{n}", "a", f"body {n}") for n in range(3)], lease_s=30, limit=8)
    assert [report.key for report in leased] == ["a/0", "a/1", "a/2"]
    # The rows alone: rowids 1-3 mean at most 3 rows, far from the cap, so the cap is not read.
    assert [statement.split()[0] for statement in statements] == ["INSERT"]
    statements.clear()
    assert spool.delete_all(leased) == []
    assert [statement.split()[0] for statement in statements] == ["DELETE"]
    assert spool.count() == 0
    spool._db.set_trace_callback(None)
    plan = spool._db.execute("EXPLAIN QUERY PLAN " + statements[0]).fetchall()
    assert [step[3] for step in plan] == ["SEARCH reports USING INDEX sqlite_autoindex_reports_1 (key=?)"]


def test_a_batch_updating_spooled_rows_leases_new_and_changed_rows_up_to_the_limit(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.put([("a/0", "a", "body 0"), ("a/1", "a", "body 1")], now=1.0)
    _, leased = spool.put_and_claim([("a/0", "a", "body 0"), ("a/1", "a", "newer 1"), ("a/2", "a", "body 2"),
                                     ("a/3", "a", "body 3")], lease_s=30, limit=2, now=2.0)
    # a/0 is unchanged (nothing to send); a/2 was inserted with the lease, a/1's newer body claimed.
    assert sorted((r.key, r.body, r.version) for r in leased) == [("a/1", "newer 1", 2), ("a/2", "body 2", 1)]
    rows = spool._db.execute("SELECT key, body, version, owner IS NOT NULL FROM reports ORDER BY key").fetchall()
    assert rows == [("a/0", "body 0", 1, 0), ("a/1", "newer 1", 2, 1), ("a/2", "body 2", 1, 1), ("a/3", "body 3", 1, 0)]


def test_a_large_batch_with_spooled_rows_among_new_ones_is_stored_whole(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite3", max_rows=5000)
    spool.put([("a/500", "a", "old 500"), ("a/1500", "a", "old 1500")])
    _, leased = spool.put_and_claim([(f"a/{n}", "a", f"body {n}") for n in range(2000)], lease_s=30, limit=2000)
    assert len(leased) == 2000 and spool.count() == 2000
    assert spool._db.execute("SELECT body, version FROM reports WHERE key = 'a/1500'").fetchone() == ("body 1500", 2)


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


def test_the_cap_is_read_once_the_rowids_pass_it(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite3", max_rows=4)
    statements: list[str] = []
    spool._db.set_trace_callback(statements.append)
    for n in range(6):
        statements.clear()
        spool.put([(f"a/{n}", "a", "{}")], now=float(n))
        assert [s.split()[0] for s in statements] == (["INSERT"] if n < 4 else ["INSERT", "SELECT", "SELECT", "DELETE"])
    spool._db.set_trace_callback(None)
    assert sorted(row[0] for row in spool._db.execute("SELECT key FROM reports")) == ["a/2", "a/3", "a/4", "a/5"]


def test_spool_cap_counts_rows_not_rowids(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite3", max_rows=3)
    spool.put([("a/0", "a", "{}"), ("a/1", "a", "{}"), ("a/2", "a", "{}")], now=1.0)
    spool.delete(spool.claim("a/1", 2.0, 30))  # a gap in the rowids: 3 rowids apart, 2 rows
    assert spool.put([("a/3", "a", "{}")], now=3.0) == 0
    assert sorted(row[0] for row in spool._db.execute("SELECT key FROM reports")) == ["a/0", "a/2", "a/3"]


class CountingSpool(Spool):
    """Counts the reads of the table that look for due rows (the senders' polling)."""

    claims = 0

    def claim_next(self, now, lease_s):
        self.claims += 1
        return super().claim_next(now, lease_s)

    def claim_due(self, now, lease_s, limit):
        self.claims += 1
        return super().claim_due(now, lease_s, limit)


class Endpoint:
    """An in-process xpander API: records each report body, the thread that sent it, and can hold requests."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.bodies: list[dict] = []
        self.requests: list[httpx.Request] = []
        self.threads: set[str] = set()
        self.open = threading.Event()
        self.open.set()
        self.latency_s = latency_s  # each request answered after this long, like a distant API
        self.in_flight: dict[str, int] = {}
        self.most_in_flight = 0  # of one task's bodies
        self.concurrent = self.most_concurrent = 0  # of all requests
        self.starts: list[tuple[int, int]] = []  # per request: (requests answered before it, requests in flight)
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self._lock:
            self.in_flight[body["id"]] = self.in_flight.get(body["id"], 0) + 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight[body["id"]])
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
            self.starts.append((len(self.bodies), self.concurrent))
        self.open.wait(10)
        time.sleep(self.latency_s)
        with self._lock:
            self.concurrent -= 1
            self.in_flight[body["id"]] -= 1
            self.bodies.append(body)
            self.requests.append(request)
            self.threads.add(threading.current_thread().name)
        return httpx.Response(200, json={"id": body["id"]})


def in_process(spool: Spool, endpoint: Endpoint, **kw) -> Delivery:
    return Delivery(spool, Configuration(api_key=API_KEY, base_url="http://xpander.test"), policy=FAST,
                    request_timeout_s=2.0, transport=httpx.MockTransport(endpoint), **kw)


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_wire_dict_is_posted_as_the_report_would_be(tmp_path):
    endpoint = Endpoint()
    d = in_process(Spool(tmp_path / "spool.sqlite3"), endpoint)
    assert d.submit([("agent-1", report(1).to_wire()), ("agent-1", report(2))])
    assert d.force_flush(5)
    assert sorted(endpoint.bodies, key=lambda b: b["id"]) == [report(1).to_wire(), report(2).to_wire()]
    for request in endpoint.requests:
        assert str(request.url) == "http://xpander.test/agent-execution/agent-1/report_task"
        assert (request.headers["x-api-key"], request.headers["content-type"]) == (API_KEY, "application/json")
    d.shutdown(1)


def test_each_report_wakes_one_sender_and_no_sender_polls_the_spool(tmp_path):
    spool = CountingSpool(tmp_path / "spool.sqlite3")
    endpoint = Endpoint()
    d = in_process(spool, endpoint)
    for n in range(20):
        d.submit([("agent-1", report(n).to_wire())])
        wait_until(lambda n=n: d.delivered == n + 1)
        time.sleep(0.05)  # the sender is idle again before the next report
    assert len(endpoint.threads) == 1  # a fast endpoint needs one sender
    assert spool.claims <= 4  # the rows were handed over in memory; the table is read about once a second
    assert d.force_flush(5)
    d.shutdown(1)


def test_an_idle_delivery_reads_the_spool_about_once_a_second(tmp_path):
    spool = CountingSpool(tmp_path / "spool.sqlite3")
    d = in_process(spool, Endpoint())
    time.sleep(1.5)
    assert spool.claims <= 3
    d.shutdown(1)


def test_an_update_arriving_while_the_older_body_is_in_flight_is_sent_after_it(tmp_path):
    endpoint = Endpoint()
    endpoint.open.clear()  # the first body stays in flight
    d = in_process(Spool(tmp_path / "spool.sqlite3"), endpoint)
    first = report(1).to_wire()
    d.submit([("agent-1", first)])
    wait_until(lambda: endpoint.in_flight.get("task-1"))
    updates = [{**first, "result": f"update {n}"} for n in range(3)]
    for update in updates:
        d.submit([("agent-1", update)])
    time.sleep(0.1)  # free senders must not take the newer bodies meanwhile
    endpoint.open.set()
    assert d.force_flush(5)
    assert endpoint.most_in_flight == 1  # never two bodies of one task in flight
    assert endpoint.bodies[0] == first and endpoint.bodies[-1] == updates[-1]
    assert len(endpoint.bodies) == 2  # the intermediate updates were replaced in the spool before sending
    d.shutdown(1)


def test_a_burst_on_a_fast_endpoint_is_sent_by_the_one_idle_sender(tmp_path):
    # More rows than idle senders is no reason for another thread while no request is slow.
    endpoint = Endpoint()
    d = in_process(Spool(tmp_path / "spool.sqlite3"), endpoint)
    for _ in range(3):
        d.submit([("agent-1", report(n).to_wire()) for n in range(8)])
        assert d.force_flush(5)
    assert len(endpoint.threads) == 1
    d.shutdown(1)


def test_a_slow_request_gets_another_sender_so_other_reports_are_not_held_back(tmp_path):
    endpoint = Endpoint()
    endpoint.open.clear()
    d = in_process(Spool(tmp_path / "spool.sqlite3"), endpoint)
    d.submit([("agent-1", report(1))])
    wait_until(lambda: endpoint.in_flight.get("task-1"))
    time.sleep(0.06)  # task-1's request is slow now
    held = threading.Thread(target=lambda: (time.sleep(0.3), endpoint.open.set()))
    held.start()
    d.submit([("agent-1", report(2))])
    wait_until(lambda: endpoint.in_flight.get("task-2"), timeout_s=0.25)  # while task-1 still hangs
    held.join()
    assert d.force_flush(5)
    assert len(endpoint.threads) == 2
    d.shutdown(1)


def test_a_slow_endpoint_gets_every_sender_while_reports_wait(tmp_path):
    # A distant API (0.2 s a request) and a backlog: each slow request that leaves reports waiting adds a
    # sender, up to the limit, so the backlog drains at the limit's pace, not one report at a time.
    endpoint = Endpoint(latency_s=0.2)
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.put([(f"agent-1/task-{n}", "agent-1", json.dumps(report(n).to_wire())) for n in range(30)])
    d = in_process(spool, endpoint, senders=5)
    assert d.force_flush(30)
    assert sorted(b["id"] for b in endpoint.bodies) == sorted(f"task-{n}" for n in range(30))
    assert endpoint.most_concurrent == 5
    assert len(endpoint.threads) == 5
    # Added as the slow answers come, not one per pass of the scheduler (a second): all five requests in
    # flight before the tenth answer.
    assert max(in_flight for answered, in_flight in endpoint.starts if answered < 10) == 5, endpoint.starts
    d.shutdown(1)


def test_a_busy_application_thread_is_no_reason_for_another_sender(tmp_path):
    # The application holds the GIL: every step of a sender waits for it, so its reports take long, but
    # its requests (in-process here) are not slow and a second thread would wait for the same GIL.
    endpoint = Endpoint()
    d = in_process(Spool(tmp_path / "spool.sqlite3"), endpoint)
    stop = threading.Event()

    def busy() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    application = threading.Thread(target=busy)
    application.start()
    try:
        for batch in range(20):
            d.submit([("agent-1", report(batch * 4 + n).to_wire()) for n in range(4)])
            time.sleep(0.002)
        assert d.force_flush(30)
    finally:
        stop.set()
        application.join()
    assert len(endpoint.bodies) == 80
    assert endpoint.threads == {"xpander-otel-delivery-0"}
    d.shutdown(1)


class DeletionCountingSpool(Spool):
    """Counts the transactions that delete delivered rows."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.deletions: list[int] = []  # rows per deleting transaction

    def delete(self, report):
        self.deletions.append(1)
        return super().delete(report)

    def delete_all(self, reports):
        self.deletions.append(len(reports))
        return super().delete_all(reports)


def spool_on_run_end(delivery_of, bodies):
    """An ``on_idle`` that spools ``bodies`` once, as the exporter does when a run ends (on the sender that
    ``request_idle_call`` woke; the scheduler's own once-a-second calls do nothing)."""
    pending = [list(bodies)]

    def on_idle() -> None:
        if pending and threading.current_thread().name.startswith("xpander-otel-delivery-"):
            delivery_of[0].submit([("agent-1", body) for body in pending.pop()])
    return on_idle


def test_a_run_end_soon_after_the_previous_one_waits_the_longer_window(tmp_path, monkeypatch):
    from xpander_otel.exporter import delivery as delivery_module

    # Windows far apart, so that a slow machine cannot blur them: 10 ms alone, 500 ms in quick succession.
    monkeypatch.setattr(delivery_module, "_RUN_END_BATCH_S", 0.01)
    monkeypatch.setattr(delivery_module, "_BUSY_RUN_END_BATCH_S", 0.5)
    monkeypatch.setattr(delivery_module, "_QUICK_SUCCESSION_S", 0.3)
    flushed: list[float] = []
    d = in_process(Spool(tmp_path / "spool.sqlite3"), Endpoint(), on_run_end=lambda: flushed.append(time.monotonic()))
    waits = []
    try:
        for pause in (0.0, 0.0, 0.4):  # the third run end comes 0.9 s after the second was taken
            time.sleep(pause)
            asked, seen = time.monotonic(), len(flushed)
            d.request_idle_call()
            wait_until(lambda: len(flushed) > seen)  # noqa: B023 (read at once, in this iteration)
            waits.append(flushed[-1] - asked)
    finally:
        d.shutdown(1)
    assert waits[0] < 0.4 and waits[1] >= 0.5 and waits[2] < 0.4, waits


def test_the_reports_of_a_run_end_are_deleted_from_the_spool_in_one_transaction(tmp_path):
    endpoint = Endpoint()
    spool = DeletionCountingSpool(tmp_path / "spool.sqlite3")
    delivery_of: list[Delivery] = []
    bodies = [report(n).to_wire() for n in range(6)]
    d = in_process(spool, endpoint, on_idle=spool_on_run_end(delivery_of, bodies))
    delivery_of.append(d)
    d.request_idle_call()
    wait_until(lambda: len(endpoint.bodies) == 6)
    assert d.force_flush(5)
    assert [body["id"] for body in endpoint.bodies] == [body["id"] for body in bodies]
    assert spool.deletions == [6] and spool.count() == 0
    d.shutdown(1)


def test_a_newer_body_that_came_while_its_report_waited_for_deletion_is_sent_too(tmp_path):
    # task-0 is acknowledged while task-1 hangs; task-0's newer body arrives before the deleting transaction.
    task_1_sent = threading.Event()
    task_1_held = threading.Event()
    endpoint = Endpoint()

    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["id"] == "task-1":
            task_1_held.set()
            task_1_sent.wait(10)
        return endpoint(request)

    spool = DeletionCountingSpool(tmp_path / "spool.sqlite3")
    first, second = report(0).to_wire(), report(1).to_wire()
    delivery_of: list[Delivery] = []
    d = Delivery(spool, Configuration(api_key=API_KEY, base_url="http://xpander.test"), policy=FAST,
                 request_timeout_s=2.0, transport=httpx.MockTransport(answer), senders=1,
                 on_idle=spool_on_run_end(delivery_of, [first, second]))
    delivery_of.append(d)
    d.request_idle_call()
    assert task_1_held.wait(5)
    newer = {**first, "result": "updated"}
    d.submit([("agent-1", newer)])  # task-0's row: acknowledged, still leased to the sender, not deleted
    task_1_sent.set()
    wait_until(lambda: len(endpoint.bodies) == 3)
    assert d.force_flush(5)
    assert endpoint.bodies == [first, second, newer]
    assert spool.count() == 0 and spool.deletions == [2, 1]
    d.shutdown(1)


def test_reports_acknowledged_before_a_spool_error_are_still_deleted(tmp_path):
    class FailingRetrySpool(DeletionCountingSpool):
        def retry_at(self, report, when):
            raise RuntimeError("disk I/O error")

    answered: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        task = json.loads(request.content)["id"]
        answered.append(task)
        return httpx.Response(503 if task == "task-1" else 200, json={})

    spool = FailingRetrySpool(tmp_path / "spool.sqlite3")
    delivery_of: list[Delivery] = []
    d = Delivery(spool, Configuration(api_key=API_KEY, base_url="http://xpander.test"), policy=FAST,
                 request_timeout_s=2.0, transport=httpx.MockTransport(answer),
                 on_idle=spool_on_run_end(delivery_of, [report(0).to_wire(), report(1).to_wire()]))
    delivery_of.append(d)
    d.request_idle_call()
    wait_until(lambda: answered[:2] == ["task-0", "task-1"] and spool.deletions)
    assert [key for (key,) in spool._db.execute("SELECT key FROM reports")] == ["agent-1/task-1"]
    d.shutdown(0.1)


def test_a_large_batch_is_delivered_through_the_spool_backlog(tmp_path):
    endpoint = Endpoint()
    d = in_process(Spool(tmp_path / "spool.sqlite3"), endpoint)
    assert d.submit([("agent-1", report(n).to_wire()) for n in range(60)])
    assert d.force_flush(10)
    assert sorted(b["id"] for b in endpoint.bodies) == sorted(f"task-{n}" for n in range(60))
    assert len(endpoint.threads) <= 4
    d.shutdown(1)


class LeaseCountingSpool(Spool):
    """Counts the transactions that lease due rows, and the rows they lease."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.leases: list[int] = []

    def claim_due(self, now, lease_s, limit):
        claimed = super().claim_due(now, lease_s, limit)
        if claimed:
            self.leases.append(len(claimed))
        return claimed


def test_a_backlog_is_leased_several_rows_per_spool_transaction(tmp_path):
    spool = LeaseCountingSpool(tmp_path / "spool.sqlite3")
    spool.put([(f"agent-1/task-{n}", "agent-1", json.dumps(report(n).to_wire())) for n in range(200)])
    endpoint = Endpoint()
    d = in_process(spool, endpoint)  # the rows were spooled before it started: all of them are a backlog
    assert d.force_flush(10)
    assert sorted(b["id"] for b in endpoint.bodies) == sorted(f"task-{n}" for n in range(200))
    assert sum(spool.leases) == 200
    # Leasing one row after each report made one transaction per report (and one sort of the due rows).
    assert len(spool.leases) <= 200 / 3, spool.leases
    d.shutdown(1)


def test_due_rows_are_leased_in_index_order_without_a_sort(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite3")
    plan = " ".join(row[3] for row in spool._db.execute(
        "EXPLAIN QUERY PLAN SELECT key FROM reports WHERE next_attempt <= ? AND (owner IS NULL OR lease_until < ?) "
        "ORDER BY next_attempt, created LIMIT ?", (1.0, 1.0, 8)))
    assert "reports_due_order" in plan and "TEMP B-TREE" not in plan, plan
    # Rows of one batch share both times; the ones due first still come first.
    spool.put([(f"a/{n}", "a", "{}") for n in range(5)], now=10.0)
    spool.put([("a/early", "a", "{}")], now=5.0)
    assert [r.key for r in spool.claim_due(20.0, 30.0, 2)] == ["a/early", "a/0"]


def test_a_spool_file_with_the_older_index_is_upgraded_and_keeps_its_rows(tmp_path):
    import sqlite3

    path = tmp_path / "spool.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE reports (key TEXT PRIMARY KEY, agent_id TEXT NOT NULL, body TEXT NOT NULL, "
        "version INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL, "
        "created REAL NOT NULL, owner INTEGER, lease_until REAL NOT NULL DEFAULT 0);"
        "CREATE INDEX reports_due ON reports (next_attempt);"
        "INSERT INTO reports (key, agent_id, body, next_attempt, created) VALUES ('a/1', 'a', '{}', 1.0, 1.0);")
    old.commit()
    old.close()
    spool = Spool(path)
    indexes = {row[0] for row in spool._db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                   "AND name LIKE 'reports_due%'")}
    assert indexes == {"reports_due_order"}
    assert [r.key for r in spool.claim_due(2.0, 30.0, 8)] == ["a/1"]


def test_reports_queued_at_shutdown_are_released_for_the_next_delivery(tmp_path):
    path = tmp_path / "spool.sqlite3"
    endpoint = Endpoint()
    endpoint.open.clear()
    first = in_process(Spool(path), endpoint, senders=1)
    first.submit([("agent-1", report(n)) for n in range(5)])
    wait_until(lambda: sum(endpoint.in_flight.values()) == 1)
    assert first.shutdown(0.1) is False
    endpoint.open.set()
    # The same process (same pid) starts again: rows it had leased but not sent are free at once.
    second = in_process(Spool(path), endpoint)
    assert second.force_flush(2)
    assert sorted({b["id"] for b in endpoint.bodies}) == [f"task-{n}" for n in range(5)]
    second.shutdown(1)


def test_rows_another_process_spooled_are_sent_by_the_periodic_read(tmp_path):
    path = tmp_path / "spool.sqlite3"
    endpoint = Endpoint()
    d = in_process(Spool(path), endpoint)
    time.sleep(0.1)
    Spool(path).put([("agent-1/task-7", "agent-1", report(7).model_dump_json())])  # not handed to our senders
    wait_until(lambda: endpoint.bodies, timeout_s=3)  # read from the table within about a second
    assert endpoint.bodies == [report(7).to_wire()]
    d.shutdown(1)


# --- the direct connection (http.client): kept alive, dropped by the server, TLS ------------------------

class KeepAliveAPI:
    """An HTTP/1.1 API that records, per connection, the reports it answers. ``drop_second``: the second
    request on a connection is read, then the connection is closed without an answer (as a server whose
    idle timeout fired meanwhile); ``idle_timeout_s``: the server closes a connection idle that long."""

    def __init__(self, *, drop_second: bool = False, idle_timeout_s: float | None = None, tls=None) -> None:
        import http.server

        api = self
        self.answered: list[tuple[int, dict]] = []  # (connection number, report)
        self.dropped = 0
        self._connections = 0
        self._lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout_s

            def setup(self):
                super().setup()
                with api._lock:
                    api._connections += 1
                    self.number, self.requests = api._connections, 0

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.requests += 1
                if drop_second and self.requests == 2:
                    api.dropped += 1
                    self.close_connection = True
                    return
                api.answered.append((self.number, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https://localhost' if tls is not None else 'http://127.0.0.1'}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SLOW_RETRY = RetryPolicy(base_s=10.0, max_s=10.0)  # a report that needed a retry would miss the test's wait


def test_reports_to_a_direct_url_share_one_kept_alive_connection(spool):
    api = KeepAliveAPI()
    d = delivery(spool, api.url, policy=SLOW_RETRY)
    try:
        for n in range(1, 6):
            assert d.submit([("agent-1", report(n))])
            assert d.force_flush(2)
    finally:
        d.shutdown(1)
        api.close()
    assert api.answered == [(1, report(n).to_wire()) for n in range(1, 6)]


def test_a_connection_the_server_dropped_before_answering_is_replaced_at_once(spool):
    api = KeepAliveAPI(drop_second=True)
    d = delivery(spool, api.url, policy=SLOW_RETRY)
    try:
        for n in (1, 2):
            assert d.submit([("agent-1", report(n))])
            assert d.force_flush(2)  # no retry in 10 s: sent again on a new connection, at once
        assert (d.delivered, spool.count()) == (2, 0)
    finally:
        d.shutdown(1)
        api.close()
    assert (api.dropped, api.answered) == (1, [(1, report(1).to_wire()), (2, report(2).to_wire())])


def test_a_connection_the_server_closed_while_idle_is_not_reused(spool):
    api = KeepAliveAPI(idle_timeout_s=0.1)
    d = delivery(spool, api.url, policy=SLOW_RETRY)
    try:
        assert d.submit([("agent-1", report(1))])
        assert d.force_flush(2)
        time.sleep(0.5)  # the server closes the idle connection
        assert d.submit([("agent-1", report(2))])
        assert d.force_flush(2)
    finally:
        d.shutdown(1)
        api.close()
    assert api.answered == [(1, report(1).to_wire()), (2, report(2).to_wire())]


@pytest.fixture
def tls_api(tmp_path):
    import ssl

    import trustme  # installed by the core session

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    api = KeepAliveAPI(tls=server_context)
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    yield api, tmp_path / "ca.pem"
    api.close()


def test_https_reports_are_verified_against_the_certificates_httpx_trusts(tls_api, spool, monkeypatch):
    api, ca = tls_api
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # httpx's SSL context trusts the test authority
    d = delivery(spool, api.url, policy=SLOW_RETRY)
    try:
        for n in (1, 2):
            assert d.submit([("agent-1", report(n))])
            assert d.force_flush(2)
    finally:
        d.shutdown(1)
    assert api.answered == [(1, report(1).to_wire()), (1, report(2).to_wire())]


def test_an_https_server_with_an_untrusted_certificate_gets_no_report(tls_api, spool, caplog):
    api, _ = tls_api
    d = delivery(spool, api.url, policy=SLOW_RETRY)
    try:
        assert d.submit([("agent-1", report())])
        assert not d.force_flush(1)
        assert spool.count() == 1  # kept for a later attempt
    finally:
        d.shutdown(0.5)
    assert api.answered == []


def test_only_a_direct_connection_takes_http_client(spool, monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    direct = delivery(spool, "http://127.0.0.1:9")
    mocked = delivery(spool, "http://127.0.0.1:9", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    proxied = delivery(spool, "http://xpander.invalid")
    try:
        target = direct._target("agent-1").direct
        assert (target.origin, target.path) == (("http", "127.0.0.1", 9), PATH)
        assert mocked._target("agent-1").direct is None  # a transport given is always used
        assert proxied._target("agent-1").direct is None  # the proxy is httpx's
    finally:
        for d in (direct, mocked, proxied):
            d.shutdown(0.5)
