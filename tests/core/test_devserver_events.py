"""The dev server's events endpoint on the wire: frames, registration, hand-over, requeue, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from _servers import ServerThread
from xpander_otel import Task
from xpander_otel.config import Configuration
from xpander_otel.devserver.events import EventsHub, InMemoryTaskStore, events_routes, task_status_route

ORG, AGENT = "org-7", "agent-7"


@pytest.fixture
def events():
    hub = EventsHub(InMemoryTaskStore(), organization_of=lambda _: ORG, agent_exists=lambda a: a == AGENT,
                    keepalive_seconds=0.2)
    server = ServerThread(Starlette(routes=[*events_routes(hub), task_status_route(hub)])).start()
    server.hub = hub
    yield server
    server.stop()


def _frames(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    """(event, data) per SSE frame, skipping keepalive comments."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, json.loads(line.removeprefix("data: "))
            event = None


def _listen(url: str, environment: str = "local"):
    return httpx.stream("GET", f"{url}/{ORG}/events/{AGENT}/", timeout=10,
                        params={"environment": environment, "supports_llm_gateway": "true"})


def _create(url: str, **body) -> dict:
    response = httpx.post(f"{url}/agent-execution/{AGENT}", json={"input": {"text": "hi"}, **body},
                          headers={"x-agent-version": "3"})
    assert response.status_code == 201 and response.headers["content-type"] == "application/json"
    return response.json()


def test_registration_comes_first_with_the_fields_xpander_sdk_requires(events):
    with _listen(events.url) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event, asset = next(_frames(stream.iter_lines()))

    assert event == "worker-registration"
    assert set(asset) == {"id", "name", "organization_id", "type", "created_at", "created_by", "last_heartbeat",
                          "configuration", "dedicated_agent_id", "parent_asset_id", "is_busy", "metadata"}
    assert (asset["organization_id"], asset["type"], asset["dedicated_agent_id"]) == (ORG, "worker", AGENT)
    assert asset["created_by"] is None and asset["parent_asset_id"] is None


def test_created_task_is_pushed_as_a_bare_task_json_our_model_reads(events):
    created = _create(events.url, output_format="json", instructions_override="Be brief.")
    assert (created["status"], created["agent_version"], created["organization_id"]) == ("pending", "3", ORG)

    with _listen(events.url) as stream:
        frames = _frames(stream.iter_lines())
        next(frames)
        event, pushed = next(frames)

    assert (event, pushed) == ("agent-execution", created)
    task = Task.model_validate({**pushed, "configuration": Configuration(api_key="k", organization_id=ORG)})
    assert (task.to_message(), task.output_format, task.instructions_override) == ("hi", "json", "Be brief.")
    assert "configuration" not in task.to_wire() and task.to_wire()["run_locally"] is False


def test_a_task_pushed_to_a_stream_that_closed_before_it_started_goes_to_the_next_worker(events):
    created = _create(events.url)
    with _listen(events.url) as first:
        frames = _frames(first.iter_lines())
        next(frames)
        assert next(frames)[1]["id"] == created["id"]
    with _listen(events.url) as second:
        frames = _frames(second.iter_lines())
        next(frames)
        assert next(frames)[1]["id"] == created["id"]


def test_a_started_task_is_not_pushed_again_and_run_locally_never_is(events):
    local = _create(events.url, run_locally=True)
    started = _create(events.url)
    httpx.patch(f"{events.url}/agent-execution/{started['id']}/update", json={**started, "status": "executing"})
    waiting = _create(events.url)

    with _listen(events.url) as stream:
        frames = _frames(stream.iter_lines())
        next(frames)
        assert next(frames)[1]["id"] == waiting["id"]
    assert events.hub.store.get_task(local["id"])["status"] == "pending"


def test_update_echoes_the_task_as_written_and_times_it(events):
    created = _create(events.url)
    base = f"{events.url}/agent-execution/{created['id']}/update"

    executing = httpx.patch(base, json={**created, "status": "executing", "result": None}).json()
    done = httpx.patch(base, json={**created, "id": "changed", "status": "completed", "result": "ok",
                                   "tokens": {"prompt_tokens": 1}, "used_tools": ["t"]}).json()

    assert executing["status"] == "executing" and executing["started_at"]
    assert (done["id"], done["status"], done["result"], done["used_tools"]) == (created["id"], "completed", "ok", ["t"])
    assert done["finished_at"] >= done["started_at"] and done["duration"] >= 0
    assert httpx.get(f"{events.url}/agent-execution/{created['id']}/status").json() == done


def test_worker_events_update_the_worker_and_unknown_workers_get_404(events):
    with _listen(events.url) as stream:
        frames = _frames(stream.iter_lines())  # held: a dropped iterator closes the stream
        _, asset = next(frames)
        url = f"{events.url}/{ORG}/events/{asset['id']}"
        beat = httpx.post(url, params={"type": "worker", "agent_id": AGENT},
                          json={"id": "e-1", "event": "worker-heartbeat", "data": "2026-01-01T00:00:00"})
        busy = httpx.post(url, params={"type": "worker", "agent_id": AGENT},
                          json={"id": "e-2", "event": "worker-capacity-update", "data": {"is_busy": True}})
        connection = events.hub.connections[asset["id"]]
        assert (beat.json(), busy.status_code) == ({"id": "e-1", "event": "worker-heartbeat", "received": True}, 200)
        assert connection.busy is True and connection.asset["last_heartbeat"] > asset["last_heartbeat"]
    unknown = httpx.post(f"{events.url}/{ORG}/events/nobody", json={"event": "worker-heartbeat"})
    assert (unknown.status_code, unknown.headers["content-type"]) == (404, "application/json")


def test_environment_conflict_frame(events):
    with _listen(events.url, "local") as local:
        frames = _frames(local.iter_lines())  # held: a dropped iterator closes the stream
        next(frames)
        with _listen(events.url, "xpander") as cloud:
            assert list(cloud.iter_lines())[:2] == [
                "event: worker-environment-conflict",
                'data: {"error": "agent agent-7 already has a worker connected in environment \'local\'; '
                'this one asked for \'xpander\'"}',
            ]


@pytest.mark.parametrize(("body", "status"), [
    (b"not json", 400), (b"[1, 2]", 400), (b'{"input": 5}', 400),
])
def test_bad_task_bodies_are_400(events, body, status):
    response = httpx.post(f"{events.url}/agent-execution/{AGENT}", content=body)
    assert (response.status_code, response.headers["content-type"]) == (status, "application/json")


def test_unknown_agent_is_404_for_tasks_and_streams(events):
    assert httpx.post(f"{events.url}/agent-execution/other", json={"input": {"text": "x"}}).status_code == 404
    assert httpx.get(f"{events.url}/{ORG}/events/other/").status_code == 404
