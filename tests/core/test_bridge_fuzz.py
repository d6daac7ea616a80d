"""Fuzzing the bridge process: thousands of malformed protobuf, JSON and gzip bodies get 4xx (never 5xx),
the bridge keeps serving correct reports afterwards, and its memory stays bounded."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from pathlib import Path

import httpx
import pytest
from _bridge_support import BridgeProcess, wait_for_reports
from _exporter_support import expected_weather_body, weather_run
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans as encode_json
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as encode_protobuf
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xpander_otel.exporter.assembler import task_id_for
from xpander_otel.exporter.spans import trace_id_hex

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
GZIP = {"content-encoding": "gzip"}
MAX_BODY = 256 * 1024
MAX_INFLATED = 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def fuzz_api():
    from _servers import RecordingServer, ServerThread

    rec = RecordingServer()
    server = ServerThread(rec.app).start()
    rec.url = server.url
    yield rec
    server.stop()


@pytest.fixture(scope="module")
def bridge(fuzz_api, tmp_path_factory):
    process = BridgeProcess(fuzz_api.url, tmp_path_factory.mktemp("fuzz") / "spool.sqlite3",
                            "--grace-seconds", "0.2", "--max-body-bytes", str(MAX_BODY),
                            "--max-decompressed-bytes", str(MAX_INFLATED)).ready()
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def weather_spans() -> list:
    seen = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(seen))
    weather_run(provider.get_tracer("fuzz"))
    provider.shutdown()
    return list(seen.get_finished_spans())


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation: flip bits, truncate, insert, delete, duplicate a slice, or splice random bytes."""
    data = bytearray(data)
    kind = rng.randrange(6)
    if not data:
        return bytes(rng.randbytes(rng.randrange(1, 64)))
    at = rng.randrange(len(data))
    if kind == 0:
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del data[at:]
    elif kind == 2:
        data[at:at] = rng.randbytes(rng.randrange(1, 16))
    elif kind == 3:
        del data[at:at + rng.randrange(1, 16)]
    elif kind == 4:
        data[at:at] = data[at:at + rng.randrange(1, 64)] * rng.randrange(2, 5)
    else:
        data[at:at + 8] = rng.randbytes(8)
    return bytes(data)


def protobuf_decodes(body: bytes) -> bool:
    try:
        ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError, ValueError):
        return False
    return True


def json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


def gunzips(body: bytes) -> bool:
    try:
        zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)
    except zlib.error:
        return False
    return True


def test_thousands_of_mutated_bodies_get_4xx_and_the_bridge_keeps_serving(bridge, client, fuzz_api):
    spans = weather_spans()
    protobuf_seed = encode_protobuf(spans).SerializeToString()
    json_seed = encode_json(spans).to_json().encode()
    rng = random.Random(20261125)
    url = f"{bridge.http}/v1/traces"
    statuses: dict[str, list[int]] = {"protobuf": [], "json": [], "gzip": []}
    must_refuse = 0
    rss_before = None
    for i in range(3000):
        if i == 300:
            rss_before = rss_kib(bridge.process.pid)  # after warm-up: imports, caches, first traces
        which = ("protobuf", "json", "gzip")[i % 3]
        if which == "protobuf":
            body, headers = mutate(protobuf_seed, rng), PROTOBUF
            refuse = not protobuf_decodes(body)
        elif which == "json":
            body, headers = mutate(json_seed, rng), JSON
            refuse = not json_object(body)
        else:
            body, headers = mutate(gzip.compress(protobuf_seed), rng), {**PROTOBUF, **GZIP}
            refuse = not gunzips(body)
        status = client.post(url, content=body, headers=headers).status_code
        statuses[which].append(status)
        assert status in (200, 400), (which, status, body[:80])
        if refuse:
            must_refuse += 1
            assert status == 400, (which, body[:80])
    assert must_refuse >= 1000
    for which, seen in statuses.items():
        assert seen.count(400) >= 300, which
    # Still serving: a correct trace still becomes exactly the right report.
    fuzz_api.requests.clear()
    good = weather_spans()
    assert client.post(url, content=encode_protobuf(good).SerializeToString(), headers=PROTOBUF).status_code == 200
    root = next(s for s in good if s.name == "invoke_agent weather")
    want = expected_weather_body(task_id_for(root.context.trace_id, root.context.span_id),
                                 trace_id_hex(root.context.trace_id), (root.end_time - root.start_time) / 1e9)
    reports = wait_for_reports(fuzz_api, 1, timeout=10)
    assert want in [r.json() for r in reports]
    assert client.get(f"{bridge.http}/healthz").json()["status"] == "ok"
    grown_mib = (rss_kib(bridge.process.pid) - rss_before) / 1024
    assert grown_mib < 40, f"bridge RSS grew {grown_mib:.1f} MiB over 2,700 fuzzed requests"


def test_bombs_and_oversized_bodies_get_413_without_growing_memory(bridge, client):
    url = f"{bridge.http}/v1/traces"
    before = rss_kib(bridge.process.pid)
    bomb = gzip.compress(b"\x0a" * (64 * MAX_INFLATED))  # 64 MiB of the same byte in ~64 KiB
    assert len(bomb) < MAX_BODY
    nested = gzip.compress(gzip.compress(b"\x00" * (8 * MAX_INFLATED)))
    for _ in range(20):
        assert client.post(url, content=bomb, headers={**PROTOBUF, **GZIP}).status_code == 413
        assert client.post(url, content=b"\x00" * (MAX_BODY + 1), headers=PROTOBUF).status_code == 413
        assert client.post(url, content=nested, headers={**PROTOBUF, **GZIP}).status_code == 400
    assert (rss_kib(bridge.process.pid) - before) / 1024 < 2 * MAX_INFLATED / 2**20 + 16


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId", "name",
                         "attributes", "key", "value", "intValue", "stringValue", "kind", "status", "code",
                         "startTimeUnixNano", "links", "resource", "x"]), children, max_size=5),
    max_leaves=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=json_values)
def test_arbitrary_json_documents_get_200_or_400(bridge, client, document):
    response = client.post(f"{bridge.http}/v1/traces", content=json.dumps(document).encode(), headers=JSON)
    assert response.status_code in (200, 400)
    if not isinstance(document, dict):
        assert response.status_code == 400


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2048), gzipped=st.booleans())
def test_arbitrary_bytes_get_200_or_400(bridge, client, body, gzipped):
    headers = {**PROTOBUF, **GZIP} if gzipped else PROTOBUF
    status = client.post(f"{bridge.http}/v1/traces", content=body, headers=headers).status_code
    expected_ok = gunzips(body) and protobuf_decodes(gzip.decompress(body)) if gzipped else protobuf_decodes(body)
    assert status == (200 if expected_ok else 400)
