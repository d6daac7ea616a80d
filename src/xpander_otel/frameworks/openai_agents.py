"""OpenAI Agents SDK: ``agents.Agent(**args)``.

Sets ``name``, ``instructions`` (role, goal, general, expected output, the task's override and context),
``model``, ``model_settings``, ``tools`` and, for JSON output with a schema, ``output_type``.

The model is an ``OpenAIChatCompletionsModel`` bound to an ``AsyncOpenAI`` client with the resolved key,
the agent's base URL (its own endpoint, or the provider's OpenAI-compatible one) and the extra LLM
headers: Chat Completions is what OpenAI-compatible endpoints speak. ``ModelSettings(include_usage=True)``
makes streamed runs report tokens. Plain functions in ``tools`` become ``function_tool``\\ s.

The SDK's ``Agent`` has no metadata field: the agent's name is registered with
``task_context.register_agent`` so the instrumentation maps it to the xpander agent id.
"""

from __future__ import annotations

import json
from typing import Any

from agents import AgentOutputSchemaBase, ModelSettings, OpenAIChatCompletionsModel, function_tool
from openai import AsyncOpenAI

from . import _common
from ._context import BuildContext


def build_args(ctx: BuildContext) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": ctx.agent.name or ctx.agent.id,
        "instructions": _common.instructions(ctx) or None,
        "model": build_model(ctx),
        "model_settings": ModelSettings(include_usage=True),
        "tools": _common.wrap_functions(ctx.tools, function_tool),
    }
    schema = _common.output_schema(ctx)
    if schema is not None:
        args["output_type"] = JsonSchemaOutput(schema)
    return _common.finish(args, ctx)


def build_model(ctx: BuildContext) -> OpenAIChatCompletionsModel:
    """A Chat Completions model on an ``AsyncOpenAI`` client holding the resolved key."""
    client = AsyncOpenAI(
        api_key=_common.model_key(ctx),
        base_url=_common.openai_base_url(ctx),
        default_headers=_common.headers_or_none(ctx.headers),
    )
    return OpenAIChatCompletionsModel(model=ctx.agent.model_name, openai_client=client)


class JsonSchemaOutput(AgentOutputSchemaBase):
    """The agent's configured JSON schema as the SDK's output type; the final output is the parsed JSON."""

    def __init__(self, schema: dict[str, Any], name: str = "final_output") -> None:
        self._schema = schema
        self._name = name

    def is_plain_text(self) -> bool:
        return False

    def name(self) -> str:
        return self._name

    def json_schema(self) -> dict[str, Any]:
        return self._schema

    def is_strict_json_schema(self) -> bool:
        # A schema written by a user rarely meets strict mode's rules (every property required, ...).
        return False

    def validate_json(self, json_str: str) -> Any:
        return json.loads(json_str)
