"""LangChain / LangGraph: ``langchain.agents.create_agent(**args)``.

Sets ``model``, ``tools``, ``system_prompt`` (role, goal, general, expected output, the task's override
and context), ``name`` and, for JSON output with a schema, ``response_format`` (the schema dict).

The model is a ``ChatOpenAI`` with the resolved key, the agent's base URL (its own endpoint, or the
provider's OpenAI-compatible one), the extra LLM headers and ``stream_usage=True``: langchain-openai
leaves stream usage off for a custom base URL, so without it a streamed run reports no tokens.

``create_agent`` takes no metadata: the agent's name is registered with ``task_context.register_agent``
so the instrumentation maps it to the xpander agent id (the task id, when there is one, is best passed
as ``config={"metadata": {"xpander_task_id": ...}}`` to ``invoke``, or with ``xpander_otel.task()``).
"""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI

from . import _common
from ._context import BuildContext


def build_args(ctx: BuildContext) -> dict[str, Any]:
    args: dict[str, Any] = {
        "model": build_model(ctx),
        "tools": list(ctx.tools or []),
        "system_prompt": _common.instructions(ctx) or None,
        "name": ctx.agent.name or ctx.agent.id,
    }
    schema = _common.output_schema(ctx)
    if schema is not None:
        args["response_format"] = schema
    return _common.finish(args, ctx)


def build_model(ctx: BuildContext) -> ChatOpenAI:
    """A ``ChatOpenAI`` holding the resolved key (as a ``SecretStr``) that reports usage when streaming."""
    return ChatOpenAI(
        model=ctx.agent.model_name,
        api_key=_common.model_key(ctx),
        base_url=_common.openai_base_url(ctx),
        default_headers=_common.headers_or_none(ctx.headers),
        stream_usage=True,
    )
