"""Pieces every framework builder shares: the key handed to a model, the endpoint, names and tags."""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import config, llm_keys, semconv, task_context
from ..errors import FrameworkNotInstalled
from ._context import BuildContext

# OpenAI-compatible Chat Completions bases of providers, for frameworks that talk to every model
# through an OpenAI client (Anthropic and Gemini publish compatibility endpoints too).
OPENAI_COMPATIBLE_BASES: dict[str, str] = {
    "anthropic": "https://api.anthropic.com/v1/",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai/",
    "google_ai_studio": "https://generativelanguage.googleapis.com/v1beta/openai/",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "nim": "https://integrate.api.nvidia.com/v1",
    "open_router": "https://openrouter.ai/api/v1",
    "nebius": "https://api.studio.nebius.ai/v1",
    "z_ai": "https://api.z.ai/api/paas/v4",
}

# Providers some frameworks reach with their own model class instead of an OpenAI client.
NATIVE_PROVIDERS = {"anthropic": "anthropic", "gemini": "gemini", "google_ai_studio": "gemini"}


class RedactedKey(str):
    """The key as the plain string a client needs, whose ``repr`` hides it.

    Frameworks keep keys in dataclass or pydantic fields that show up in ``repr(model)``; a ``str``
    subclass works everywhere a string does (headers, f-strings, copies) and prints as asterisks.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'**********'"


def model_key(ctx: BuildContext) -> RedactedKey:
    """The resolved key, unwrapped only here: the moment a model or client is constructed."""
    return RedactedKey(ctx.api_key.get_secret_value())


def native_provider(ctx: BuildContext) -> str | None:
    """``anthropic`` or ``gemini`` when the agent uses that provider's own API, else None."""
    if llm_keys.uses_own_endpoint(ctx.agent):
        return None
    return NATIVE_PROVIDERS.get(ctx.agent.model_provider)


def openai_base_url(ctx: BuildContext) -> str | None:
    """The Chat Completions base URL: the agent's own ``llm_api_base``, else its provider's, else OpenAI's.

    An ``llm_api_base`` on Anthropic's or Google's own host addresses their native API, not the OpenAI-
    compatible one an OpenAI client needs, so those get the compatibility base.
    """
    agent = ctx.agent
    if agent.llm_api_base and (llm_keys.uses_own_endpoint(agent) or agent.model_provider not in NATIVE_PROVIDERS):
        return config.ensure_scheme(agent.llm_api_base).rstrip("/")
    return OPENAI_COMPATIBLE_BASES.get(agent.model_provider)


def instructions(ctx: BuildContext, *, with_context: bool = True) -> str:
    """The system prompt: the agent's instructions, the task's override, and its extra context."""
    parts = [ctx.instructions]
    if with_context:
        if ctx.agent.expected_output:
            parts.append(f"Expected output: {ctx.agent.expected_output}")
        if ctx.task is not None and ctx.task.additional_context:
            parts.append(ctx.task.additional_context)
    return "\n\n".join(p for p in parts if p)


def output_format(ctx: BuildContext) -> str | None:
    """``text``, ``markdown`` or ``json``: the task's format, else the agent's."""
    if ctx.task is not None and ctx.task.output_format:
        return ctx.task.output_format
    return ctx.agent.output_format


def output_schema(ctx: BuildContext) -> dict[str, Any] | None:
    """The JSON schema the answer must follow (task's, else agent's), when the output format is ``json``."""
    schema = (ctx.task.output_schema if ctx.task is not None else None) or ctx.agent.output_schema
    return schema if schema and output_format(ctx) == "json" else None


def wrap_functions(tools: Iterable[Any] | None, wrap: Callable[[Any], Any]) -> list[Any]:
    """The caller's tools with plain Python functions wrapped into the framework's tool type."""
    return [wrap(t) if inspect.isfunction(t) or inspect.ismethod(t) else t for t in tools or []]


def metadata(ctx: BuildContext) -> dict[str, str]:
    """The ids the instrumentation reads from a framework's metadata field."""
    ids = {task_context.METADATA_AGENT_ID: ctx.agent.id}
    if ctx.task is not None:
        ids[task_context.METADATA_TASK_ID] = ctx.task.id
    return ids


def trace_attributes(ctx: BuildContext) -> dict[str, str]:
    """The same ids under their span attribute names, for frameworks that take trace attributes."""
    ids = {semconv.XPANDER_AGENT_ID: ctx.agent.id}
    if ctx.task is not None:
        ids[semconv.XPANDER_TASK_ID] = ctx.task.id
    return ids


def finish(args: dict[str, Any], ctx: BuildContext, *, name_key: str = "name") -> dict[str, Any]:
    """Apply the caller's override (its keys win) and register the final agent name with the agent id."""
    args.update(ctx.override or {})
    name = args.get(name_key)
    if isinstance(name, str):
        task_context.register_agent(name, ctx.agent.id)
    return args


def identifier(name: str, *, fallback: str = "agent") -> str:
    """``name`` as a Python identifier (what Google ADK requires of agent names)."""
    ident = re.sub(r"\W+", "_", name.strip(), flags=re.ASCII).strip("_")
    if not ident:
        return fallback
    if ident[0].isdigit():
        ident = f"{fallback}_{ident}"
    return ident


def installed(module: str) -> bool:
    """True when ``module`` (dotted names too) can be imported."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package of a dotted name
        return False


def require(module: str, install: str) -> None:
    """Raise ``FrameworkNotInstalled`` naming ``install`` when ``module`` cannot be imported."""
    if not installed(module):
        raise FrameworkNotInstalled(f"{module} is not installed: pip install {install}")


def headers_or_none(headers: Mapping[str, str]) -> dict[str, str] | None:
    """Extra headers for a client argument that means "none" as None."""
    return dict(headers) if headers else None
