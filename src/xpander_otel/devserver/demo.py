"""``xpander-otel demo``: the whole pipeline offline, in one command.

It starts the dev server (or uses one already running on the port), builds the example Agno agent with
``Backend.get_args``, and runs it against the scripted LLM with ``xpander_otel.configure()`` switched on:
the Agno instrumentor emits the spans and the span exporter turns the run into a task report at the dev
server. Then it prints the task and the page URL.

Without Agno installed (``pip install "xpander-otel[server]"`` only), it runs a plain OpenAI-compatible
tool loop and reports it with ``Backend.report_external_task``, saying how to get the instrumented run.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..client import Backend
from ..config import Configuration
from ..errors import ModuleException
from ..models import Task, Tokens
from ..task_context import task as task_scope

DEMO_AGENT_ID = "weather-agent"
DEMO_QUESTION = "What is the weather in Paris right now?"
MAX_TURNS = 5

GET_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def get_weather(city: str) -> str:
    """The demo's tool: a fixed forecast, so the run is the same every time."""
    return f"Sunny in {city}, 22 degrees Celsius."


TOOLS: dict[str, Callable[..., str]] = {"get_weather": get_weather}


@dataclass
class AgentRun:
    """What one agent run produced: the report's fields."""

    input: str
    result: str = ""
    tokens: Tokens = field(default_factory=Tokens)
    used_tools: list[str] = field(default_factory=list)
    llm_response: dict[str, Any] | None = None
    duration: float = 0.0
    is_success: bool = True


def run_agent(args: dict[str, Any], question: str) -> AgentRun:
    """A minimal tool-calling loop over ``/chat/completions`` with the agent's model, key and base URL."""
    run = AgentRun(input=question)
    started = time.monotonic()
    messages: list[dict[str, Any]] = [{"role": "system", "content": args["instructions"]},
                                      {"role": "user", "content": question}]
    headers = {"Authorization": f"Bearer {args['api_key'].get_secret_value()}", **args["extra_headers"]}
    prompt = completion = 0
    with httpx.Client(base_url=args["api_base"], headers=headers, timeout=30) as llm:
        for _ in range(MAX_TURNS):
            response = llm.post("/chat/completions", json={"model": args["model_name"], "messages": messages,
                                                           "tools": [GET_WEATHER_TOOL]})
            response.raise_for_status()
            body = response.json()
            prompt += body["usage"]["prompt_tokens"]
            completion += body["usage"]["completion_tokens"]
            choice = body["choices"][0]
            message = choice["message"]
            run.llm_response = {"model": body["model"], "content": message.get("content"),
                                "finish_reason": choice["finish_reason"], "usage": body["usage"]}
            messages.append(message)
            if not message.get("tool_calls"):
                run.result = message.get("content") or ""
                break
            for call in message["tool_calls"]:
                name = call["function"]["name"]
                if name not in run.used_tools:
                    run.used_tools.append(name)
                output = TOOLS[name](**json.loads(call["function"]["arguments"]))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
        else:
            run.is_success, run.result = False, f"no answer after {MAX_TURNS} model turns"
    run.tokens = Tokens(prompt_tokens=prompt, completion_tokens=completion)
    run.duration = time.monotonic() - started
    return run


# --- the server the demo talks to ------------------------------------------------------------------


def is_devserver(url: str) -> bool:
    """True when a dev server answers its health route at ``url``."""
    try:
        response = httpx.get(f"{url}/healthz", timeout=2)
        return response.status_code == 200 and response.json() == {"status": "ok"}
    except (httpx.HTTPError, ValueError):
        return False


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedServer:
    """The dev server in a thread of this process (uvicorn); ``stop()`` ends it."""

    def __init__(self, host: str, port: int, db_path: Path, api_key: str | None) -> None:
        import uvicorn

        from .app import ServerSettings, create_app

        self.url = f"http://{host}:{port}"
        app = create_app(ServerSettings(db_path=db_path, api_key=api_key))
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="xpander-otel-devserver", daemon=True)

    def start(self) -> EmbeddedServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the dev server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def wait(self) -> None:
        """Serve until Ctrl-C (or SIGTERM)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: setattr(self._server, "should_exit", True))
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _ensure_demo_agent(backend: Backend) -> None:
    """A running server started with another agents file may lack the example agent: add it."""
    try:
        backend.get_agent(DEMO_AGENT_ID)
        return
    except ModuleException as exc:
        if exc.status_code != 404:
            raise
    from .agents import load_agents_file

    example = next(a for a in load_agents_file(None) if a.id == DEMO_AGENT_ID)
    headers = backend.configuration.headers()
    httpx.post(f"{backend.configuration.base_url}/agents", json=example.model_dump(mode="json"),
               headers=headers, timeout=10).raise_for_status()


def _say(line: str) -> None:
    print(line, flush=True)  # a person (or a test) reads the lines while the server keeps running


def run_demo(
    *,
    host: str = "127.0.0.1",
    port: int,
    db_path: Path,
    api_key: str | None = None,
    keep_serving: bool = True,
    out: Callable[[str], None] = _say,
) -> Task:
    """Run the demo and return the reported task. Serves until Ctrl-C when ``keep_serving``
    and the demo started the server itself."""
    url = f"http://{host}:{port}"
    server: EmbeddedServer | None = None
    if is_devserver(url):
        out(f"Using the dev server already running at {url}")
    else:
        if not _port_is_free(host, port):
            port = _free_port(host)
            url = f"http://{host}:{port}"
        server = EmbeddedServer(host, port, db_path, api_key).start()
        out(f"Started the dev server at {url} (database: {db_path})")
    try:
        backend = Backend(Configuration(base_url=url, api_key=api_key, organization_id=None, agent_id=None))
        _ensure_demo_agent(backend)
        if _agno_installed():
            task = _run_instrumented(backend, out)
        else:
            out('Agno is not installed: running a plain tool loop reported by hand '
                '(pip install "xpander-otel[server,agno]" for the instrumented run).')
            task = _run_by_hand(backend, out)
        backend.close()
        _print_task(task, url, out)
        if server is not None and keep_serving:
            out("Serving until Ctrl-C ...")
            server.wait()
        return task
    finally:
        if server is not None:
            server.stop()


def _agno_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("agno") is not None


def _run_instrumented(backend: Backend, out: Callable[[str], None]) -> Task:
    """An Agno agent from get_args, instrumented, reported by the span exporter to the dev server."""
    from agno.agent import Agent

    from .._configure import configure

    telemetry = configure(DEMO_AGENT_ID, configuration=backend.configuration, spool_path=":memory:")
    try:
        args = backend.get_args(agent_id=DEMO_AGENT_ID, tools=[get_weather])
        out(f"Agno agent {args['name']!r} ({DEMO_AGENT_ID}) on model {args['model'].id}, instrumented")
        task_id = str(uuid.uuid4())
        # The task id is ours to choose: the report arrives under it, so we can read it back.
        with task_scope(agent_id=DEMO_AGENT_ID, task_id=task_id):
            Agent(**args).run(DEMO_QUESTION)
        telemetry.force_flush()
    finally:
        telemetry.shutdown()
    return _read_task(backend, task_id)


def _read_task(backend: Backend, task_id: str, timeout: float = 10.0) -> Task:
    url = f"{backend.configuration.base_url}/tasks/{task_id}"
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, headers=backend.configuration.headers(), timeout=5)
        if response.status_code == 200 or time.monotonic() > deadline:
            response.raise_for_status()
            return Task.model_validate(response.json())
        time.sleep(0.05)


def _run_by_hand(backend: Backend, out: Callable[[str], None]) -> Task:
    args = backend.get_args(agent_id=DEMO_AGENT_ID, framework="neutral")
    out(f"Agent {args['name']!r} ({DEMO_AGENT_ID}) on model {args['model_name']} at {args['api_base']}")
    run = run_agent(args, DEMO_QUESTION)
    return backend.report_external_task(
        agent_id=DEMO_AGENT_ID, id=str(uuid.uuid4()), input=run.input, llm_response=run.llm_response,
        tokens=run.tokens, is_success=run.is_success, result=run.result, duration=run.duration,
        used_tools=run.used_tools,
    )


def _print_task(task: Task, url: str, out: Callable[[str], None]) -> None:
    tokens = task.tokens or Tokens()
    out("")
    out(f"Task {task.id}  [{task.status}]")
    out(f"  input:    {task.to_message()}")
    out(f"  result:   {task.result}")
    out(f"  tokens:   {tokens.prompt_tokens} prompt + {tokens.completion_tokens} completion = "
        f"{tokens.total_tokens}")
    out(f"  tools:    {', '.join(task.used_tools or []) or 'none'}")
    out(f"  duration: {getattr(task, 'duration', 0) or 0:.3f} s")
    out("")
    out(f"Open {url}/tasks/{task.id}/view  (all tasks: {url}/)")
