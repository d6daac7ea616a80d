"""Real OpenAI Agents SDK agents on the scripted LLM, through either model API."""

from __future__ import annotations

from typing import Any

from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, OpenAIResponsesModel, function_tool
from openai import AsyncOpenAI

from xpander_otel.devserver.scripted_llm import FINAL_ANSWER

MODEL = "scripted-weather"
APIS = ["responses", "chat_completions"]


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}, 22 degrees"


@function_tool
def broken_weather(city: str) -> str:
    """The weather in a city (this one's service is down)."""
    raise ConnectionError(f"weather service down for {city}")


def model(llm, api: str = "responses", name: str = MODEL):
    # A client per agent: an AsyncOpenAI client is bound to the event loop it first ran on. No retries,
    # so the scripted error fails at once.
    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted-test", max_retries=0)
    cls = OpenAIResponsesModel if api == "responses" else OpenAIChatCompletionsModel
    return cls(model=name, openai_client=client)


def agent(llm, api: str = "responses", *, name: str = "weather", model_name: str = MODEL, tools=None, **kwargs: Any):
    # include_usage: the SDK asks for streamed Chat Completions usage by default only from api.openai.com.
    return Agent(name=name, model=model(llm, api, model_name), tools=[get_weather] if tools is None else tools,
                 model_settings=ModelSettings(include_usage=True), **kwargs)


def triage(llm, api: str = "responses") -> Agent:
    """An agent whose only tool is the handoff to the weather agent (the scripted LLM calls it first)."""
    return Agent(name="triage", model=model(llm, api), handoffs=[agent(llm, api)],
                 model_settings=ModelSettings(include_usage=True))


def manager(llm, api: str = "responses") -> Agent:
    """An agent whose only tool is the weather agent run as a tool."""
    tool = agent(llm, api).as_tool(tool_name="ask_weather_agent", tool_description="Ask the weather agent.")
    return Agent(name="manager", model=model(llm, api), tools=[tool], model_settings=ModelSettings(include_usage=True))


def outcome(result: Any) -> tuple:
    """What a run returned, without the ids the scripted LLM numbers per request."""
    items = [(item.type, getattr(item, "output", None)) for item in result.new_items]
    usage = [(r.usage.input_tokens, r.usage.output_tokens) for r in result.raw_responses]
    return result.final_output, result.last_agent.name, items, usage


def event_kinds(events: list[Any]) -> list[tuple]:
    """Stream events by type (and item type, and text delta), without ids."""
    kinds = []
    for e in events:
        data = getattr(e, "data", None)
        delta = getattr(data, "delta", None) if data is not None else None
        item = getattr(e, "item", None)
        kinds.append((e.type, getattr(data, "type", None), getattr(item, "type", None),
                      delta if isinstance(delta, str) else None))
    return kinds


__all__ = ["APIS", "FINAL_ANSWER", "agent", "broken_weather", "event_kinds", "get_weather", "manager", "model",
           "outcome", "triage"]
