"""Running the examples exactly as their first line says, against a dev server process.

Every example starts with ``# Run: [VAR=value ...] <command> ...``. The tests run that command (with the
dev server's URL and a fresh agent id in place of the defaults) and read the task it reported.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
RUN_PREFIX = "# Run: "
DEFAULT_SERVER = "http://127.0.0.1:8765"
DEFAULT_AGENT = "weather-agent"
QUESTION = "What is the weather in Paris right now?"
ANSWER = "It is sunny in Paris, 22 degrees."
# The scripted LLM's default script: a tool call (50 + 10 tokens), then the answer (80 + 12).
WEATHER_TOKENS = {"prompt_tokens": 130, "completion_tokens": 22, "total_tokens": 152,
                  "cache_read_tokens": 0, "cache_write_tokens": 0}


def run_command(example: Path) -> str:
    first = example.read_text().splitlines()[0]
    assert first.startswith(RUN_PREFIX), f"{example} must start with '{RUN_PREFIX}...'"
    return first.removeprefix(RUN_PREFIX)


def split_command(command: str) -> tuple[dict[str, str], list[str]]:
    """``A=1 B=2 python x.py`` -> ({"A": "1", "B": "2"}, ["python", "x.py"])."""
    words = shlex.split(command)
    env = {}
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return env, words


def _program(word: str) -> str:
    # `python` is this interpreter; console scripts (opentelemetry-instrument, xpander-otel) sit beside it.
    if word == "python":
        return sys.executable
    beside = Path(sys.executable).parent / word
    return str(beside) if beside.exists() else word


def weather_agent(server, framework: str, model: str = "scripted-weather") -> dict:
    """A fresh agent like the dev server's ``weather-agent`` (so the test's task count is its own)."""
    return server.create_agent("Weather Agent", framework=framework, model_provider="openai",
                               model_name=model, llm_api_base="{server_url}/v1",
                               instructions={"general": "Use the get_weather tool; never guess."})


def run_example(example: Path, server, agent_id: str, tmp_path: Path, *, timeout: float = 240,
                replace: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the example's own command with the dev server's URL, ``agent_id`` and a private spool.

    ``replace`` maps other default addresses in the command (e.g. the bridge's endpoint) to the test's.
    """
    command = run_command(example).replace(DEFAULT_SERVER, server.url)
    for default, actual in (replace or {}).items():
        command = command.replace(default, actual)
    env_from_command, argv = split_command(command)
    if "XPANDER_AGENT_ID" in env_from_command:
        env_from_command["XPANDER_AGENT_ID"] = agent_id
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "OTEL_"))}
    env.update({"XPANDER_OTEL_SPOOL": str(tmp_path / "spool.sqlite3"), **env_from_command})
    return subprocess.run([_program(word) if word in ("python", argv[0]) else word for word in argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def tasks_of(server, agent_id: str) -> list[dict]:
    response = httpx.get(f"{server.url}/tasks", params={"agent_id": agent_id}, timeout=10)
    response.raise_for_status()
    return response.json()["items"]


def assert_weather_task(task: dict, agent_id: str, used_tools: tuple[str, ...] = ("get_weather",),
                        result: str = ANSWER) -> None:
    """The task one run of the weather question reports, field by field."""
    assert task["agent_id"] == agent_id
    assert task["status"] == "completed"
    assert task["is_success"] is True
    assert task["input"]["text"] == QUESTION
    assert task["result"] == result
    assert task["tokens"] == WEATHER_TOKENS
    assert task["used_tools"] == list(used_tools)
    assert task["duration"] > 0
    assert task["source"] == "external"
    assert len(task["llm_response"]["trace_id"]) == 32
