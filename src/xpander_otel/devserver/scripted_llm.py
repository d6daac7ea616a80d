"""A scripted OpenAI-compatible Chat Completions endpoint: deterministic answers, tool calls and usage.

It also answers the Responses API (``POST /v1/responses``, stateless too: the step is the number of
``function_call_output`` items after the last user message) with the same scripts and usage numbers;
streamed, usage arrives in ``response.completed``.

The dev server mounts it so demos and examples run offline, and tests start it on a loopback port.
It is stateless: the step of a conversation is the number of tool results after the last user message,
so concurrent conversations never interfere.

Scripts are chosen by model name (unknown names get ``weather``):

- ``weather``: call the first offered tool, then answer. Usage 50/10 then 80/12.
- ``answer``: answer at once. Usage 20/8.
- ``steps-N`` (e.g. ``scripted-steps-10``): N tool calls, then answer. Usage 50+10k / 10 per step.
- ``error``: HTTP 500 with an OpenAI-style error body.

Every request is recorded (path, model, Authorization, stream flag, messages) for tests to inspect at
``GET /_scripted/requests``; ``DELETE`` clears the record.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FINAL_ANSWER = "It is sunny in Paris, 22 degrees."
DEFAULT_TOOL_ARGUMENTS: dict[str, Any] = {"city": "Paris"}


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }


@dataclass(frozen=True)
class Step:
    """One model turn: a tool call (``tool=True``) or the final text."""

    usage: Usage
    tool: bool = False
    text: str = FINAL_ANSWER


@dataclass(frozen=True)
class Script:
    steps: tuple[Step, ...]

    def step(self, index: int) -> Step:
        return self.steps[min(index, len(self.steps) - 1)]


WEATHER = Script((Step(Usage(50, 10), tool=True), Step(Usage(80, 12))))
ANSWER = Script((Step(Usage(20, 8)),))


def _steps_script(n: int) -> Script:
    calls = tuple(Step(Usage(50 + 10 * k, 10), tool=True) for k in range(n))
    return Script((*calls, Step(Usage(50 + 10 * n, 12))))


def script_for(model: str) -> Script | None:
    """The script a model name selects; None for ``error``."""
    name = model.rsplit("/", 1)[-1].removeprefix("scripted-")
    if name == "error":
        return None
    if name == "answer":
        return ANSWER
    if m := re.fullmatch(r"steps-(\d+)", name):
        return _steps_script(int(m.group(1)))
    return WEATHER


def _conversation_step(messages: list[dict[str, Any]]) -> int:
    step = 0
    for message in messages:
        role = message.get("role")
        if role == "user":
            step = 0
        elif role == "tool":
            step += 1
    return step


def _placeholder(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {"integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(kind, "Paris")


def _tool_arguments(tool: dict[str, Any]) -> dict[str, Any]:
    params = (tool.get("function") or {}).get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    args = {k: v for k, v in DEFAULT_TOOL_ARGUMENTS.items() if k in props}
    for name in params.get("required") or []:
        args.setdefault(name, _placeholder(props.get(name) or {}))
    return args


class ScriptedLLM:
    """The endpoint's state: the request record and a counter for ids."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def record(self, request: Request, body: dict[str, Any]) -> None:
        entry = {
            "path": request.url.path,
            "model": body.get("model"),
            "authorization": request.headers.get("authorization"),
            "stream": bool(body.get("stream")),
            "messages": body.get("messages") if "messages" in body else body.get("input"),
            "tools": [(t.get("function") or t).get("name") for t in body.get("tools") or []],
            "headers": {k: v for k, v in request.headers.items() if k.lower().startswith("x-")},
        }
        with self._lock:
            self.requests.append(entry)

    def next_id(self) -> int:
        return next(self._ids)

    def completion(self, body: dict[str, Any]) -> Response:
        model = str(body.get("model") or "scripted")
        script = script_for(model)
        if script is None:
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error", "code": "scripted_error"}},
                status_code=500,
            )
        messages = body.get("messages") or []
        tools = body.get("tools") or []
        index = _conversation_step(messages)
        step = script.step(index)
        n = self.next_id()
        message: dict[str, Any]
        if step.tool and tools:
            tool = tools[0]
            call = {
                "id": f"call_{n}",
                "type": "function",
                "function": {"name": tool["function"]["name"], "arguments": json.dumps(_tool_arguments(tool))},
            }
            message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": step.text}, "stop"
        usage = step.usage if not (step.tool and not tools) else ANSWER.steps[0].usage
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(_chunks(n, model, message, finish, usage, include_usage)), media_type="text/event-stream"
            )
        return JSONResponse(
            {
                "id": f"chatcmpl-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage.as_dict(),
            }
        )


    def response(self, body: dict[str, Any]) -> Response:
        """The Responses API twin of ``completion``: same scripts, same usage numbers."""
        model = str(body.get("model") or "scripted")
        script = script_for(model)
        if script is None:
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error", "code": "scripted_error"}},
                status_code=500,
            )
        items = body.get("input")
        items = [{"role": "user", "content": items}] if isinstance(items, str) else list(items or [])
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        step = script.step(_response_step(items))
        n = self.next_id()
        if step.tool and tools:
            tool = tools[0]
            arguments = json.dumps(_tool_arguments({"function": tool}))
            item = {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": tool["name"],
                    "arguments": arguments, "status": "completed"}
            usage = step.usage
        else:
            item = {"type": "message", "id": f"msg_{n}", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": step.text, "annotations": []}]}
            usage = step.usage if not step.tool else ANSWER.steps[0].usage
        response = _response_object(n, model, body, item, usage)
        if body.get("stream"):
            return StreamingResponse(_response_sse(response), media_type="text/event-stream")
        return JSONResponse(response)


def _response_step(items: list[dict[str, Any]]) -> int:
    # The Responses API twin of _conversation_step: tool outputs after the last user message.
    step = 0
    for item in items:
        if item.get("role") == "user":
            step = 0
        elif item.get("type") == "function_call_output":
            step += 1
    return step


def _response_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def _response_object(n: int, model: str, body: dict[str, Any], item: dict[str, Any], usage: Usage) -> dict[str, Any]:
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [item],
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "usage": _response_usage(usage),
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "metadata": {},
        "temperature": None,
        "top_p": None,
    }


def _response_events(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The Responses API stream of one response: usage arrives with ``response.completed``."""
    item = response["output"][0]
    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    yield {"type": "response.created", "response": pending}
    yield {"type": "response.in_progress", "response": pending}
    if item["type"] == "function_call":
        yield {"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": ""}}
        half = len(item["arguments"]) // 2
        for part in (item["arguments"][:half], item["arguments"][half:]):
            yield {"type": "response.function_call_arguments.delta", "item_id": item["id"], "output_index": 0,
                   "delta": part}
        yield {"type": "response.function_call_arguments.done", "item_id": item["id"], "output_index": 0,
               "arguments": item["arguments"], "name": item["name"]}
    else:
        text = item["content"][0]["text"]
        part = {"type": "output_text", "text": "", "annotations": []}
        yield {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}}
        yield {"type": "response.content_part.added", "item_id": item["id"], "output_index": 0,
               "content_index": 0, "part": part}
        for i, word in enumerate(text.split(" ")):
            yield {"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
                   "content_index": 0, "delta": word if i == 0 else " " + word, "logprobs": []}
        yield {"type": "response.output_text.done", "item_id": item["id"], "output_index": 0, "content_index": 0,
               "text": text, "logprobs": []}
        yield {"type": "response.content_part.done", "item_id": item["id"], "output_index": 0,
               "content_index": 0, "part": {**part, "text": text}}
    yield {"type": "response.output_item.done", "output_index": 0, "item": item}
    yield {"type": "response.completed", "response": response}


async def _response_sse(response: dict[str, Any]):
    for sequence, event in enumerate(_response_events(response)):
        yield f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': sequence})}\n\n"


def _chunks(
    n: int, model: str, message: dict[str, Any], finish: str, usage: Usage, include_usage: bool
) -> Iterator[dict[str, Any]]:
    base = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}

    yield chunk({"role": "assistant", "content": ""})
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        yield chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"], "arguments": ""}}]})
        for part in (arguments[:half], arguments[half:]):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
    else:
        words = message["content"].split(" ")
        for i, word in enumerate(words):
            yield chunk({"content": word if i == 0 else " " + word})
    yield chunk({}, finish)
    if include_usage:
        yield {**base, "choices": [], "usage": usage.as_dict()}


async def _sse(chunks: Iterator[dict[str, Any]]):
    for c in chunks:
        yield f"data: {json.dumps(c)}\n\n"
    yield "data: [DONE]\n\n"


def create_app(llm: ScriptedLLM | None = None) -> Starlette:
    """The scripted LLM as an ASGI app: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/models`` and
    ``/_scripted/requests``."""
    llm = llm or ScriptedLLM()

    async def chat_completions(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": {"message": "body is not JSON", "type": "invalid_request_error"}}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return JSONResponse({"error": {"message": "'messages' must be a list", "type": "invalid_request_error"}}, 400)
        llm.record(request, body)
        return llm.completion(body)

    async def responses(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": {"message": "body is not JSON", "type": "invalid_request_error"}}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("input"), (str, list)):
            return JSONResponse({"error": {"message": "'input' must be a string or a list",
                                           "type": "invalid_request_error"}}, 400)
        llm.record(request, body)
        return llm.response(body)

    async def models(_: Request) -> Response:
        names = ["scripted-weather", "scripted-answer", "scripted-steps-10", "scripted-error"]
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "xpander-otel"} for m in names]})

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            with llm._lock:
                llm.requests.clear()
            return JSONResponse({"cleared": True})
        return JSONResponse(llm.requests)

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/_scripted/requests", requests, methods=["GET", "DELETE"]),
        ]
    )
    app.state.llm = llm
    return app
