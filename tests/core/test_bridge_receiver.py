"""OTLP/HTTP and OTLP/gRPC receivers: content types, encodings, limits, auth and the status codes."""

from __future__ import annotations

import gzip

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette

from _servers import ServerThread
from xpander_otel.bridge.grpc_server import start_grpc_server
from xpander_otel.bridge.http import create_otlp_routes
from xpander_otel.bridge.limits import ReceiverLimits
from xpander_otel.bridge.receiver import BUSY, IngestResult

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")
PROTOBUF = {"content-type": "application/x-protobuf"}
LIMITS = ReceiverLimits(max_body_bytes=64 * 1024, max_decompressed_bytes=256 * 1024)


def export_request(spans: int = 1) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for i in range(spans):
        span = scope_spans.spans.add(trace_id=TRACE_ID, span_id=SPAN_ID, parent_span_id=PARENT_ID,
                                     name=f"chat gpt-4.1 #{i}", kind=3,
                                     start_time_unix_nano=1_700_000_000_000_000_000,
                                     end_time_unix_nano=1_700_000_000_500_000_000)
        attr = span.attributes.add(key="gen_ai.usage.input_tokens")
        attr.value.int_value = 50
    return request


class Ingested:
    """An ingest seam that records requests and answers what the test says."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.answer = IngestResult()

    def __call__(self, request: ExportTraceServiceRequest) -> IngestResult:
        self.requests.append(request)
        return self.answer


@pytest.fixture
def ingest():
    return Ingested()


@pytest.fixture
def receiver(ingest):
    app = Starlette(routes=create_otlp_routes(ingest, limits=LIMITS))
    server = ServerThread(app).start()
    server.traces = f"{server.url}/v1/traces"
    yield server
    server.stop()


@pytest.fixture
def authed_receiver(ingest):
    app = Starlette(routes=create_otlp_routes(ingest, auth_token="s3cret-token", limits=LIMITS))
    server = ServerThread(app).start()
    server.traces = f"{server.url}/v1/traces"
    yield server
    server.stop()


def status_of(response: httpx.Response) -> status_pb2.Status:
    status = status_pb2.Status()
    if response.headers["content-type"].startswith("application/json"):
        json_format.Parse(response.text, status)
    else:
        status.ParseFromString(response.content)
    return status


def test_protobuf_export_answers_empty_response_and_hands_over_the_request(receiver, ingest):
    sent = export_request(3)
    response = httpx.post(receiver.traces, content=sent.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    assert ingest.requests == [sent]


def test_json_export_reads_hex_ids_enum_ints_and_64_bit_integers_as_strings_or_numbers(receiver, ingest):
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "node-agent"}}]},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": [
            {"traceId": TRACE_ID.hex(), "spanId": SPAN_ID.hex(), "parentSpanId": PARENT_ID.hex(),
             "name": "invoke_agent weather", "kind": 1, "startTimeUnixNano": "1700000000000000000",
             "endTimeUnixNano": 1700000000500000000, "status": {"code": 2, "message": "boom"},
             "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "50"}},
                            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 10}}],
             "links": [{"traceId": TRACE_ID.hex(), "spanId": PARENT_ID.hex()}],
             "someFutureField": True},
        ]}],
    }]}
    response = httpx.post(receiver.traces, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    span = ingest.requests[0].resource_spans[0].scope_spans[0].spans[0]
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE_ID, SPAN_ID, PARENT_ID)
    assert span.kind == 1 and span.status.code == 2 and span.status.message == "boom"
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (1700000000000000000, 1700000000500000000)
    assert [(a.key, a.value.int_value) for a in span.attributes] == [
        ("gen_ai.usage.input_tokens", 50), ("gen_ai.usage.output_tokens", 10)]
    assert span.links[0].span_id == PARENT_ID
    assert ingest.requests[0].resource_spans[0].resource.attributes[0].value.string_value == "node-agent"


def test_gzip_and_chunked_bodies_are_accepted(receiver, ingest):
    sent = export_request(5)
    packed = gzip.compress(sent.SerializeToString())
    gz = httpx.post(receiver.traces, content=packed, headers={**PROTOBUF, "content-encoding": "gzip"})

    def chunks():
        raw = sent.SerializeToString()
        for i in range(0, len(raw), 7):
            yield raw[i:i + 7]

    chunked = httpx.post(receiver.traces, content=chunks(), headers=PROTOBUF)
    assert (gz.status_code, chunked.status_code) == (200, 200)
    assert ingest.requests == [sent, sent]


def test_partial_success_is_encoded_in_the_requests_encoding(receiver, ingest):
    ingest.answer = IngestResult(rejected_spans=2, error_message="2 spans with invalid ids")
    proto = httpx.post(receiver.traces, content=export_request().SerializeToString(), headers=PROTOBUF)
    answer = ExportTraceServiceResponse.FromString(proto.content)
    assert (answer.partial_success.rejected_spans, answer.partial_success.error_message) == (
        2, "2 spans with invalid ids")
    as_json = httpx.post(receiver.traces, json={"resourceSpans": []})
    assert as_json.json() == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 spans with invalid ids"}}


def test_full_queue_answers_503_with_retry_after(receiver, ingest):
    ingest.answer = BUSY
    response = httpx.post(receiver.traces, content=export_request().SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert status_of(response).code == 14


@pytest.mark.parametrize(("content_type", "encoding"), [
    ("text/plain", None), (None, None), ("application/xml", None), ("application/x-protobuf", "br")])
def test_unknown_content_type_or_encoding_is_415(receiver, ingest, content_type, encoding):
    headers = {k: v for k, v in (("content-type", content_type), ("content-encoding", encoding)) if v}
    response = httpx.post(receiver.traces, content=b"{}", headers=headers)
    assert response.status_code == 415
    assert "unsupported content" in status_of(response).message
    assert ingest.requests == []


@pytest.mark.parametrize(("body", "headers", "message"), [
    (b"\xff\xff\xff", PROTOBUF, "invalid protobuf"),
    (b"{not json", {"content-type": "application/json"}, "invalid JSON"),
    (b"[1, 2]", {"content-type": "application/json"}, "must be an object"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
     {"content-type": "application/json"}, "is not hex"),
    (b'{"resourceSpans": 5}', {"content-type": "application/json"}, "invalid OTLP JSON"),
    (b"plainly not gzip", {**PROTOBUF, "content-encoding": "gzip"}, "invalid gzip"),
    (gzip.compress(b"abc")[:-4], {**PROTOBUF, "content-encoding": "gzip"}, "truncated gzip"),
])
def test_bad_payloads_are_400(receiver, ingest, body, headers, message):
    response = httpx.post(receiver.traces, content=body, headers=headers)
    assert response.status_code == 400
    status = status_of(response)
    assert status.code == 3 and message in status.message
    assert ingest.requests == []


def test_bodies_over_the_limit_are_413_with_length_chunked_or_as_a_gzip_bomb(receiver, ingest):
    big = b"\x00" * (LIMITS.max_body_bytes + 1)
    with_length = httpx.post(receiver.traces, content=big, headers=PROTOBUF)

    def chunks():
        for _ in range(100):
            yield b"\x00" * 1024

    chunked = httpx.post(receiver.traces, content=chunks(), headers=PROTOBUF)
    bomb = gzip.compress(b"\x00" * (LIMITS.max_decompressed_bytes + 1))
    assert len(bomb) < LIMITS.max_body_bytes
    bombed = httpx.post(receiver.traces, content=bomb, headers={**PROTOBUF, "content-encoding": "gzip"})
    assert [r.status_code for r in (with_length, chunked, bombed)] == [413, 413, 413]
    assert "inflates beyond" in status_of(bombed).message
    assert ingest.requests == []


def test_token_is_required_when_configured(authed_receiver, ingest):
    body = export_request().SerializeToString()
    missing = httpx.post(authed_receiver.traces, content=body, headers=PROTOBUF)
    wrong = httpx.post(authed_receiver.traces, content=body, headers={**PROTOBUF, "authorization": "Bearer nope"})
    right = httpx.post(authed_receiver.traces, content=body,
                       headers={**PROTOBUF, "authorization": "Bearer s3cret-token"})
    assert [r.status_code for r in (missing, wrong, right)] == [401, 401, 200]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "s3cret" not in missing.text + wrong.text
    assert len(ingest.requests) == 1


def test_only_post_is_allowed(receiver):
    assert httpx.get(receiver.traces).status_code == 405


@pytest.fixture
def grpc_receiver(ingest):
    server, port = start_grpc_server(ingest, port=0, auth_token=None, limits=LIMITS)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    stub.channel = channel
    yield stub
    channel.close()
    server.stop(grace=None)


def test_grpc_export_plain_and_gzip(grpc_receiver, ingest):
    sent = export_request(4)
    assert grpc_receiver.Export(sent, timeout=5) == ExportTraceServiceResponse()
    assert grpc_receiver.Export(sent, timeout=5, compression=grpc.Compression.Gzip) == ExportTraceServiceResponse()
    assert ingest.requests == [sent, sent]


def test_grpc_partial_success_busy_and_bomb(grpc_receiver, ingest):
    ingest.answer = IngestResult(rejected_spans=1, error_message="1 span with an invalid id")
    answer = grpc_receiver.Export(export_request(), timeout=5)
    assert answer.partial_success.rejected_spans == 1
    ingest.answer = BUSY
    with pytest.raises(grpc.RpcError) as busy:
        grpc_receiver.Export(export_request(), timeout=5)
    assert busy.value.code() == grpc.StatusCode.UNAVAILABLE
    retry_info = RetryInfo.FromString(dict(busy.value.trailing_metadata())["google.rpc.retryinfo-bin"])
    assert retry_info.retry_delay.seconds == LIMITS.retry_after_seconds
    bomb = export_request()
    bomb.resource_spans[0].scope_spans[0].spans[0].name = "x" * (LIMITS.max_decompressed_bytes + 1)
    with pytest.raises(grpc.RpcError) as too_big:
        grpc_receiver.Export(bomb, timeout=5, compression=grpc.Compression.Gzip)
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(ingest.requests) == 2


def test_grpc_requires_the_token_when_configured(ingest):
    server, port = start_grpc_server(ingest, port=0, auth_token="s3cret-token", limits=LIMITS)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as denied:
                stub.Export(export_request(), timeout=5)
            assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub.Export(export_request(), timeout=5, metadata=[("authorization", "Bearer s3cret-token")])
    finally:
        server.stop(grace=None)
    assert len(ingest.requests) == 1


def test_grpc_malformed_request_is_invalid_argument(grpc_receiver, ingest):
    export = grpc_receiver.channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    with pytest.raises(grpc.RpcError) as bad:
        export(b"\xff\xff\xff", timeout=5)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid protobuf" in bad.value.details()
    assert ingest.requests == []
