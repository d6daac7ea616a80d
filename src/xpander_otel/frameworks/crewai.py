"""CrewAI: ``crewai.Agent(**args)``.

Sets ``role`` (the agent's name: CrewAI shows it as the agent's name, and the instrumentation names
spans after it), ``goal`` (the configured goals, else the description), ``backstory`` (role, goal,
general, expected output, the task's override and context), ``llm``, ``tools`` and ``verbose=False``.
CrewAI agents have no metadata field: the role is registered with ``task_context`` under the xpander
agent id, and a task id reaches the spans through ``with xpander_otel.task(...)``.

The LLM is ``crewai.LLM(model="openai/<model>", base_url=..., api_key=..., default_headers=...)``: CrewAI
routes ``openai/<model>`` to its own OpenAI provider only when a base URL is given, so the base URL is
always set (the agent's own endpoint, the provider's OpenAI-compatible one, or OpenAI's). That provider
asks for ``stream_options.include_usage`` when streaming, so streamed runs report tokens.

CrewAI rejects plain functions as tools: they are wrapped with ``crewai.tools.tool``.
"""

from __future__ import annotations

from typing import Any

from crewai import LLM
from crewai.tools import tool

from . import _common
from ._context import BuildContext

OPENAI_BASE_URL = "https://api.openai.com/v1"


def build_args(ctx: BuildContext) -> dict[str, Any]:
    agent = ctx.agent
    goals = [g for g in agent.instructions.goal if g]
    args: dict[str, Any] = {
        "role": agent.name or agent.id,
        "goal": "\n".join(goals) or agent.description or agent.name or agent.id,
        "backstory": _common.instructions(ctx) or agent.description or "",
        "llm": build_llm(ctx),
        "tools": _common.wrap_functions(ctx.tools, tool),
        "verbose": False,
    }
    return _common.finish(args, ctx, name_key="role")


def build_llm(ctx: BuildContext) -> LLM:
    """CrewAI's OpenAI provider with the resolved key, the base URL and the extra headers."""
    key = _common.model_key(ctx)
    llm = LLM(
        model=f"openai/{ctx.agent.model_name}",
        base_url=_common.openai_base_url(ctx) or OPENAI_BASE_URL,
        api_key=key,
        default_headers=_common.headers_or_none(ctx.headers),
    )
    # The LLM is a pydantic model that turns the key back into a plain str, which its repr prints:
    # keep the redacting str in the field (same value, so clients built later get the same key).
    if getattr(llm, "api_key", None) == key:
        object.__setattr__(llm, "api_key", key)
    return llm
