"""Pydantic AI: ``pydantic_ai.Agent(**args)``.

Sets ``model``, ``instructions`` (role, goal, general, expected output, the task's override and
context), ``tools`` (plain functions are Pydantic AI tools as they are), ``name``, ``description``,
``output_type`` (a ``StructuredDict`` of the schema, for JSON output with a schema) and ``metadata`` =
``{"xpander_agent_id": ..., "xpander_task_id": ...}`` (``task_context.METADATA_*``), which the
instrumentation reads from each run. The agent name is also registered with ``task_context``.

The model is an ``OpenAIChatModel`` with an ``OpenAIProvider`` over an ``AsyncOpenAI`` client that holds
the resolved key, the agent's base URL (its own endpoint, or the provider's OpenAI-compatible one) and
the extra LLM headers. Pydantic AI asks for ``stream_options.include_usage`` itself, so streamed runs
report tokens. Only ``pydantic-ai-slim[openai]`` is needed.
"""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI
from pydantic_ai import StructuredDict
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from . import _common
from ._context import BuildContext


def build_args(ctx: BuildContext) -> dict[str, Any]:
    agent = ctx.agent
    args: dict[str, Any] = {
        "model": build_model(ctx),
        "instructions": _common.instructions(ctx) or None,
        "tools": list(ctx.tools or []),
        "name": agent.name or agent.id,
        "description": agent.description,
        "metadata": _common.metadata(ctx),
    }
    schema = _common.output_schema(ctx)
    if schema is not None:
        args["output_type"] = StructuredDict(schema, name="output")
    return _common.finish(args, ctx)


def build_model(ctx: BuildContext) -> OpenAIChatModel:
    """An ``OpenAIChatModel`` whose client carries the resolved key, base URL and extra headers."""
    client = AsyncOpenAI(
        api_key=_common.model_key(ctx),
        base_url=_common.openai_base_url(ctx),
        default_headers=_common.headers_or_none(ctx.headers),
    )
    return OpenAIChatModel(ctx.agent.model_name, provider=OpenAIProvider(openai_client=client))
