"""XpanderSpanExporter.export() hands batches to the exporter's assembly thread: it returns before they are
assembled, waits when that thread is behind, and loses nothing on the way."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from _exporter_support import weather_run
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xpander_otel import Configuration
from xpander_otel.exporter import XpanderSpanExporter
from xpander_otel.exporter import exporter as exporter_module


def runs(count: int) -> list[list]:
    """``count`` weather runs made through the SDK, one list of finished spans per run."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    out = []
    for n in range(count):
        weather_run(provider.get_tracer("test"), question=f"question {n}")
        out.append(list(memory.get_finished_spans()))
        memory.clear()
    provider.shutdown()
    return out


@pytest.fixture
def posted():
    return []


@pytest.fixture
def exporter(tmp_path, posted):
    def answer(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(200, json={})

    exp = XpanderSpanExporter(configuration=Configuration(api_key="xpk-test-0123456789", base_url="http://x.test"),
                              spool_path=tmp_path / "spool.sqlite3", watch_global_provider=False,
                              transport=httpx.MockTransport(answer))
    yield exp
    exp.shutdown(2000)


def block(obj, name: str, calls: int = 1) -> threading.Event:
    """Make the first ``calls`` calls of ``obj.name`` wait until the returned event is set."""
    original = getattr(obj, name)
    release = threading.Event()
    blocked = iter(range(calls))

    def wrapper(*args, **kwargs):
        if next(blocked, None) is not None:
            release.wait(10)
        return original(*args, **kwargs)

    setattr(obj, name, wrapper)
    return release


def test_export_returns_before_the_batch_is_assembled(exporter, posted):
    release = block(exporter._assembler, "add")
    [spans] = runs(1)
    started = time.perf_counter()
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert time.perf_counter() - started < 0.5
    assert exporter._delivery.spool.count() == 0  # still with the assembly thread
    release.set()
    assert exporter.force_flush(5000)
    assert [body["input"] for body in posted] == ["question 0"]


def test_a_full_hand_off_slows_export_down_and_loses_nothing(exporter, posted, monkeypatch):
    monkeypatch.setattr(exporter_module, "_HANDOFF_WAIT_S", 0.05)
    release = block(exporter._delivery, "submit")  # the assembly thread stalls spooling its first batch
    batches = runs(exporter_module._MAX_HANDED_OFF_BATCHES + 3)
    exporter.export(batches[0])
    deadline = time.monotonic() + 5
    while exporter._handed_off and time.monotonic() < deadline:  # the thread took it, then stalled
        time.sleep(0.01)
    for spans in batches[1:-2]:
        started = time.perf_counter()
        exporter.export(spans)
        assert time.perf_counter() - started < 0.04  # room in the hand-off: no wait
    started = time.perf_counter()
    for spans in batches[-2:]:  # no room: each waits, then is assembled by export() itself
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert time.perf_counter() - started >= 0.1
    release.set()
    assert exporter.force_flush(10_000)
    assert sorted(body["input"] for body in posted) == sorted(f"question {n}" for n in range(len(batches)))


def test_shutdown_reports_the_batches_still_handed_off(exporter, posted):
    release = block(exporter._assembler, "add")
    batches = runs(3)
    for spans in batches:
        exporter.export(spans)
    assert exporter._unassembled == 3  # all still with the assembly thread
    threading.Timer(0.1, release.set).start()
    exporter.shutdown(5000)
    assert sorted(body["input"] for body in posted) == ["question 0", "question 1", "question 2"]


def test_early_exports_do_not_walk_the_buffered_traces_each_time(exporter, monkeypatch):
    # Each task root that ends asks for an early export (one per agent run); expiry walks every buffered
    # trace (up to the cap), so it runs at most once a second, not once per run.
    walks = []
    assembler = exporter._assembler
    original = assembler.expire
    monkeypatch.setattr(assembler, "expire", lambda now: walks.append(now) or original(now))
    exporter._last_expire = 0.0
    for span_id in range(50):
        exporter._awaited_roots.add(span_id)
        exporter._after_run_end()
    assert len(walks) == 1
    assert not exporter._awaited_roots  # every early export was still made


def test_the_schedulers_once_a_second_tick_leaves_early_exports_to_the_senders(exporter):
    # Every run end wakes a sender for its early export; the scheduler flushing the processor too would
    # only be a second thread waiting for a busy application's GIL.
    exporter._awaited_roots.add(7)
    exporter._tick()
    assert exporter._awaited_roots == {7}
    exporter._after_run_end()
    assert not exporter._awaited_roots


def test_a_task_roots_early_export_is_assembled_on_the_delivery_thread(exporter, posted, monkeypatch):
    # The early export flushes the batch processor from the delivery's own thread: its batch is assembled
    # there, not handed to the assembly thread (one thread switch less per agent run).
    from xpander_otel.exporter import XpanderSpanProcessor

    handed_off = []
    original = exporter._hand_off
    monkeypatch.setattr(exporter, "_hand_off", lambda spans: handed_off.append(len(spans)) or original(spans))
    provider = TracerProvider()
    provider.add_span_processor(XpanderSpanProcessor(exporter, schedule_delay_millis=60_000))
    weather_run(provider.get_tracer("test"), question="early")
    deadline = time.monotonic() + 5
    while not posted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [body["input"] for body in posted] == ["early"]
    assert handed_off == []


def test_the_sender_that_spools_an_ended_runs_report_also_posts_it(tmp_path):
    # One thread woken per agent run: the sender that flushes, assembles and spools the report POSTs it.
    from xpander_otel.exporter import XpanderSpanProcessor

    events: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        events.append(("post", threading.current_thread().name))
        return httpx.Response(200, json={})

    exp = XpanderSpanExporter(configuration=Configuration(api_key="xpk-test-0123456789", base_url="http://x.test"),
                              spool_path=tmp_path / "spool.sqlite3", watch_global_provider=False,
                              transport=httpx.MockTransport(answer))
    original = exp._assemble_batch
    exp._assemble_batch = lambda spans: events.append(("assemble", threading.current_thread().name)) or original(spans)
    provider = TracerProvider()
    provider.add_span_processor(XpanderSpanProcessor(exp, schedule_delay_millis=60_000))
    try:
        for n in range(5):
            weather_run(provider.get_tracer("test"), question=f"run {n}")
            deadline = time.monotonic() + 5
            while len(events) < 2 * (n + 1) and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        exp.shutdown(2000)
    threads = {name for _, name in events}
    assert [what for what, _ in events] == ["assemble", "post"] * 5
    assert len(threads) == 1 and threads.pop().startswith("xpander-otel-delivery-")


def test_runs_that_end_close_together_share_one_early_export(exporter, posted):
    # A thread woken cold once per run cost more than the work it did: runs ending within a few
    # milliseconds of each other are flushed, assembled and spooled together (and each still POSTed).
    from xpander_otel.exporter import XpanderSpanProcessor

    assembled = []
    original = exporter._assemble_batch
    exporter._assemble_batch = lambda spans: assembled.append(len(spans)) or original(spans)
    provider = TracerProvider()
    provider.add_span_processor(XpanderSpanProcessor(exporter, schedule_delay_millis=60_000))
    for n in range(5):
        weather_run(provider.get_tracer("test"), question=f"close {n}")
        time.sleep(0.001)
    deadline = time.monotonic() + 5
    while len(posted) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(body["input"] for body in posted) == [f"close {n}" for n in range(5)]
    assert len(assembled) <= 2 and sum(assembled) == 5 * len(runs(1)[0])


def test_an_early_export_waits_only_for_the_roots_awaited_when_it_began(exporter):
    # A run that ends during the flush asks for an early export of its own; this one does not sleep and
    # flush again for it.
    flushes = []

    class Processor:
        def force_flush(self, timeout_millis=None):
            flushes.append(set(exporter._awaited_roots))
            exporter._awaited_roots.discard(1)  # root 1 came through
            exporter._awaited_roots.add(2)  # root 2 ended meanwhile
            return True

    exporter._own_processor = Processor()
    exporter._awaited_roots.add(1)
    exporter._export_awaited_roots()
    assert flushes == [{1}]
    assert exporter._awaited_roots == {2}
