"""Real agno agents and teams on the scripted LLM, and a view of their results that ignores ids/timings."""

from __future__ import annotations

import re
from typing import Any

from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.team import Team

from xpander_otel.devserver.scripted_llm import FINAL_ANSWER

MODEL = "scripted-weather"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}, 22 degrees"


def broken_weather(city: str) -> str:
    """The weather in a city (this one's service is down)."""
    raise ConnectionError(f"weather service down for {city}")


def model(llm, name: str = MODEL) -> OpenAIChat:
    return OpenAIChat(id=name, base_url=llm.base_url, api_key="sk-scripted-test")


def agent(llm, *, name: str = "weather", model_name: str = MODEL, tools=(get_weather,), **kwargs: Any) -> Agent:
    # id "Paris": the scripted LLM fills a required string argument with "Paris", so a team's
    # delegate_task_to_member(member_id="Paris") finds this agent.
    return Agent(name=name, id="Paris", model=model(llm, model_name), tools=list(tools), **kwargs)


def team(llm, *, name: str = "team") -> Team:
    return Team(name=name, id="team", members=[agent(llm)], model=model(llm))


def outcome(run_output: Any) -> tuple:
    """What a run returned, without its random ids and timings."""
    tools = [(t.tool_name, t.tool_args, t.result, t.tool_call_error) for t in run_output.tools or []]
    # Tool call ids come from the scripted LLM's counter, so two runs differ in them: compare counts.
    messages = [(m.role, m.content, len(m.tool_calls or [])) for m in run_output.messages or []]
    return run_output.content, str(run_output.status), tools, messages


def chunks(events: list[Any]) -> list[tuple]:
    """A stream's events by name and content (ids and timings differ between runs)."""
    return [(getattr(e, "event", type(e).__name__), _without_timings(getattr(e, "content", None))) for e in events]


def _without_timings(content: Any) -> Any:
    # Tool-call events say "get_weather(city=Paris) completed in 0.0007s."
    return re.sub(r"\d+\.\d+s\b", "<t>s", content) if isinstance(content, str) else content


def streamed_text(events: list[Any], event: str = "RunContent") -> str:
    return "".join(e.content for e in events if getattr(e, "event", None) == event and e.content)


__all__ = ["FINAL_ANSWER", "agent", "broken_weather", "chunks", "get_weather", "model", "outcome", "streamed_text", "team"]
