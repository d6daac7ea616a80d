"""Strands Agents: ``strands.Agent(**args)``.

Sets ``model``, ``system_prompt`` (role, goal, general, expected output, the task's override and
context), ``tools``, ``name``, ``agent_id`` (the xpander agent id), ``description``,
``callback_handler=None`` (Strands otherwise prints every streamed token to stdout, which a server does
not want) and ``trace_attributes`` = ``{"xpander.agent.id": ..., "xpander.task.id": ...}``: Strands puts
them on its own GenAI spans, where the instrumentation and the exporter read them.

The model is an ``OpenAIModel`` whose ``client_args`` hold the resolved key, the agent's base URL (its
own endpoint, or the provider's OpenAI-compatible one) and the extra LLM headers. It streams with
``stream_options.include_usage`` by default, so runs report tokens. Plain functions in ``tools`` are
wrapped with ``strands.tool``.
"""

from __future__ import annotations

from typing import Any

from strands import tool
from strands.models.openai import OpenAIModel

from . import _common
from ._context import BuildContext


def build_args(ctx: BuildContext) -> dict[str, Any]:
    args: dict[str, Any] = {
        "model": build_model(ctx),
        "system_prompt": _common.instructions(ctx) or None,
        "tools": _common.wrap_functions(ctx.tools, tool),
        "name": ctx.agent.name or ctx.agent.id,
        "agent_id": ctx.agent.id,
        "description": ctx.agent.description,
        "callback_handler": None,
        "trace_attributes": _common.trace_attributes(ctx),
    }
    return _common.finish(args, ctx)


def build_model(ctx: BuildContext) -> OpenAIModel:
    """An ``OpenAIModel`` whose OpenAI client arguments carry the resolved key and base URL."""
    client_args: dict[str, Any] = {"api_key": _common.model_key(ctx)}
    base_url = _common.openai_base_url(ctx)
    if base_url:
        client_args["base_url"] = base_url
    if ctx.headers:
        client_args["default_headers"] = dict(ctx.headers)
    return OpenAIModel(client_args=client_args, model_id=ctx.agent.model_name)
