"""Bad input answers 4xx with a clear JSON message; the server keeps serving and its data stays intact."""

from __future__ import annotations

import httpx
import pytest

from xpander_otel import ModuleException

ONE_MIB = 1024 * 1024


@pytest.fixture
def agent_with_task(devserver):
    agent = devserver.create_agent("Bad input")
    devserver.backend().report_external_task(agent_id=agent["id"], id=f"keep-{agent['id']}", result="kept")
    return agent


def _post_report(devserver, agent_id: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{devserver.url}/agent-execution/{agent_id}/report_task", timeout=30, **kwargs)


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{not json", 400, "the request body is not valid JSON: Expecting property name enclosed in double quotes"),
        (b"", 400, "the request body is empty: send a JSON object"),
        (b"[1, 2]", 422, "the request body must be a JSON object, not list"),
        (b'{"tokens": "many", "duration": "long"}', 422,
         "invalid task report: tokens: Input should be a valid dictionary or instance of Tokens; "
         "duration: Input should be a valid number, unable to parse string as a number"),
        (b'{"used_tools": "search", "input": 42}', 422,
         "invalid task report: input: Input should be a valid string; used_tools: Input should be a valid list"),
        (b"\xff\xfe", 400, "the request body is not valid JSON"),
    ],
)
def test_bad_report_bodies_answer_4xx_with_a_clear_message(devserver, agent_with_task, body, status, detail):
    response = _post_report(devserver, agent_with_task["id"], content=body,
                            headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"].startswith(detail)
    _assert_still_serving_and_intact(devserver, agent_with_task)


def test_wrong_types_name_each_field(devserver, agent_with_task):
    response = _post_report(devserver, agent_with_task["id"], json={"tokens": {"prompt_tokens": "x"}})
    assert response.json()["errors"] == [
        {"field": "tokens.prompt_tokens", "message": "Input should be a valid integer, unable to parse string as an integer"}
    ]


def test_unknown_agent_is_404_with_what_to_do(devserver):
    with pytest.raises(ModuleException) as raised:
        devserver.backend().report_external_task(agent_id="no-such-agent", result="x")
    assert raised.value.status_code == 404
    assert raised.value.description == (
        '{"detail":"agent \'no-such-agent\' not found: create it with POST /agents or list it in the --agents file"}'
    )
    assert httpx.get(f"{devserver.url}/agents/no-such-agent").status_code == 404
    assert httpx.get(f"{devserver.url}/agent-execution/executions/history/no-such-agent").status_code == 404


def test_oversize_body_is_413_by_content_length(devserver, agent_with_task):
    big = b'{"result": "' + b"x" * ONE_MIB + b'"}'
    response = _post_report(devserver, agent_with_task["id"], content=big,
                            headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is larger than the limit of 1048576 bytes"}
    _assert_still_serving_and_intact(devserver, agent_with_task)


def test_oversize_chunked_body_is_413_while_it_streams(devserver, agent_with_task):
    def chunks():
        yield b'{"result": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = _post_report(devserver, agent_with_task["id"], content=chunks(),
                            headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]
    _assert_still_serving_and_intact(devserver, agent_with_task)


def test_body_just_under_the_limit_is_accepted(devserver, agent_with_task):
    result = "y" * (ONE_MIB - 100)
    response = _post_report(devserver, agent_with_task["id"], json={"id": "big-but-ok", "result": result})
    assert response.status_code == 200
    assert len(httpx.get(f"{devserver.url}/tasks/big-but-ok").json()["result"]) == ONE_MIB - 100


@pytest.mark.parametrize(
    ("path", "params", "headers", "status", "detail"),
    [
        ("/tasks", {"limit": "ten"}, {}, 400, "query parameter 'limit' must be an integer, got 'ten'"),
        ("/tasks", {"limit": "0"}, {}, 400, "query parameter 'limit' must be between 1 and 500, got 0"),
        ("/tasks", {"status": "done"}, {}, 400, "query parameter 'status' must be one of completed, failed, got 'done'"),
        ("/tasks/nope", {}, {}, 404, "task 'nope' not found"),
        ("/agent-execution/nope/status", {}, {}, 404, "task 'nope' not found"),
        ("/agents/weather-agent", {}, {"x-agent-version": "latest"}, 400,
         "header x-agent-version must be an integer, got 'latest'"),
        ("/no/such/route/here", {}, {}, 404, "Not Found"),
    ],
)
def test_bad_queries_answer_4xx_json(devserver, path, params, headers, status, detail):
    response = httpx.get(f"{devserver.url}{path}", params=params, headers=headers)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_bad_agent_definitions_are_422(devserver):
    missing_name = httpx.post(f"{devserver.url}/agents", json={"model_name": "gpt-4.1"})
    assert missing_name.status_code == 422
    assert missing_name.json()["detail"] == "invalid agent: name: Field required"
    bad_id = httpx.post(f"{devserver.url}/agents", json={"name": "x", "id": "a/b"})
    assert bad_id.status_code == 422
    assert bad_id.json()["detail"] == (
        "invalid agent: id: Value error, must be 1-128 letters, digits or . _ : - (it is used in URLs)")


def _assert_still_serving_and_intact(devserver, agent):
    assert httpx.get(f"{devserver.url}/healthz").json() == {"status": "ok"}
    page = httpx.get(f"{devserver.url}/tasks", params={"agent_id": agent["id"]}).json()
    assert [(t["id"], t["result"]) for t in page["items"]] == [(f"keep-{agent['id']}", "kept")]
