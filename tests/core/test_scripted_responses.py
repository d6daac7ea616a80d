"""The scripted LLM's Responses API endpoint: the same scripts and usage as Chat Completions."""

import json

import httpx

TOOLS = [{"type": "function", "name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def test_tool_call_then_answer(llm):
    question = [{"role": "user", "content": "weather?"}]
    first = httpx.post(f"{llm.base_url}/responses", json={"model": "gpt-4.1", "input": question, "tools": TOOLS}).json()
    (call,) = first["output"]
    assert (call["type"], call["name"], call["arguments"]) == ("function_call", "get_weather", '{"city": "Paris"}')
    assert (first["usage"]["input_tokens"], first["usage"]["output_tokens"]) == (50, 10)

    history = [*question, call, {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]
    second = httpx.post(f"{llm.base_url}/responses", json={"model": "gpt-4.1", "input": history, "tools": TOOLS}).json()
    assert second["output"][0]["content"][0]["text"] == "It is sunny in Paris, 22 degrees."
    assert (second["usage"]["input_tokens"], second["usage"]["output_tokens"]) == (80, 12)
    assert [r["tools"] for r in llm.llm.requests] == [["get_weather"], ["get_weather"]]


def test_stream_ends_with_usage_in_completed_event(llm):
    body = {"model": "scripted-answer", "input": "hi", "stream": True}
    with httpx.stream("POST", f"{llm.base_url}/responses", json=body) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == \
        "It is sunny in Paris, 22 degrees."
    assert events[-1]["response"]["usage"]["input_tokens"] == 20
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_error_model_fails(llm):
    response = httpx.post(f"{llm.base_url}/responses", json={"model": "scripted-error", "input": "hi"})
    assert response.status_code == 500
