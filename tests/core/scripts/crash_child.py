"""Child process of the crash test: ``crash`` makes a run, waits for its report to be spooled, prints the
expected body and sleeps until killed; ``replay`` starts on the same spool and flushes it."""

import json
import sys
import time

from _exporter_support import expected_weather_body, weather_run
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import xpander_otel
from xpander_otel.exporter.assembler import task_id_for

spool, url, phase = sys.argv[1:4]
telemetry = xpander_otel.configure(
    configuration=xpander_otel.Configuration(api_key="xpk-test-0123456789", base_url=url),
    spool_path=spool, instrument=False,
)
if phase == "crash":
    memory = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    weather_run(trace.get_tracer("child"))
    ended = time.monotonic()
    while telemetry.exporter.spool.count() == 0 and time.monotonic() - ended < 10:
        time.sleep(0.005)
    spooled_after = time.monotonic() - ended
    root = next(s for s in memory.get_finished_spans() if s.name.startswith("invoke_agent"))
    expected = expected_weather_body(task_id_for(root.context.trace_id, root.context.span_id),
                                     format(root.context.trace_id, "032x"), (root.end_time - root.start_time) / 1e9)
    print(json.dumps({"spooled_after": spooled_after, "expected": expected}), flush=True)
    time.sleep(120)  # killed with SIGKILL long before this ends
else:
    flushed = telemetry.force_flush(10_000)
    print(json.dumps({"flushed": flushed}), flush=True)
    telemetry.shutdown()
