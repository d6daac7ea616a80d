"""Agent configuration -> keyword arguments for the framework the agent runs on.

The agent config's ``framework`` field (or an explicit ``framework=``) picks the builder:

- ``agno``: ``agno.agent.Agent(**args)`` (extra ``xpander-otel[agno]``)
- ``open-ai-agents``: ``agents.Agent(**args)`` (``xpander-otel[openai-agents]``)
- ``langchain`` / ``langgraph``: ``langchain.agents.create_agent(**args)`` (``xpander-otel[langchain]``)
- ``strands-agents``: ``strands.Agent(**args)`` (``xpander-otel[strands]``)
- ``google-adk``: ``google.adk.agents.LlmAgent(**args)`` (``xpander-otel[google-adk]``)
- ``neutral``: the provider-neutral dict of ``neutral_args``, no framework needed

A builder module is imported only when its framework is dispatched, so a core install imports none.

>>> args = await dispatch_get_args(agent=agent_config, task=task)   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import llm_keys
from ..errors import FrameworkNotInstalled, UnsupportedFramework
from ..models import AgentConfig, Task
from ._common import installed
from ._context import BuildContext, neutral_args

__all__ = [
    "SUPPORTED_FRAMEWORKS",
    "BuildContext",
    "dispatch_get_args",
    "dispatch_get_args_sync",
    "neutral_args",
]

Builder = Callable[[BuildContext], dict[str, Any]]


@dataclass(frozen=True)
class _Framework:
    module: str  # builder module in this package
    extra: str  # pip extra of xpander-otel that installs the framework
    imports: tuple[str, ...]  # what the builder imports


_FRAMEWORKS: dict[str, _Framework] = {
    "agno": _Framework("agno", "agno", ("agno", "openai")),
    "open-ai-agents": _Framework("openai_agents", "openai-agents", ("agents", "openai")),
    "langchain": _Framework("langchain", "langchain", ("langchain", "langchain_openai")),
    "langgraph": _Framework("langchain", "langchain", ("langchain", "langchain_openai")),
    "strands-agents": _Framework("strands", "strands", ("strands", "openai")),
    "google-adk": _Framework("google_adk", "google-adk", ("google.adk", "litellm")),
}
# Spellings users type for an explicit framework= (normalized: lower case, "_" -> "-").
_ALIASES = {"openai-agents": "open-ai-agents", "strands": "strands-agents", "adk": "google-adk"}

SUPPORTED_FRAMEWORKS: tuple[str, ...] = (*sorted(_FRAMEWORKS), "neutral")

# framework value -> builder, filled on first use; "neutral" needs no framework installed.
_BUILDERS: dict[str, Builder] = {"neutral": neutral_args}
_lock = threading.Lock()


def _normalize(framework: str) -> str:
    name = framework.strip().lower().replace("_", "-")
    return _ALIASES.get(name, name)


def _builder_for(framework: str) -> Builder:
    name = _normalize(framework)
    builder = _BUILDERS.get(name)
    if builder is not None:
        return builder
    spec = _FRAMEWORKS.get(name)
    if spec is None:
        raise UnsupportedFramework(
            f"No get_args builder for framework {framework!r}. Supported: {', '.join(SUPPORTED_FRAMEWORKS)} "
            "(pass framework=... to choose one)."
        )
    missing = [m for m in spec.imports if not installed(m)]
    if missing:
        raise FrameworkNotInstalled(
            f"The agent runs on {name}, which is not installed (missing: {', '.join(missing)}): "
            f'pip install "xpander-otel[{spec.extra}]"'
        )
    with _lock:
        module = importlib.import_module(f"{__name__}.{spec.module}")
        _BUILDERS[name] = module.build_args
    return module.build_args


def dispatch_get_args_sync(
    agent: AgentConfig,
    task: Task | None = None,
    override: Mapping[str, Any] | None = None,
    tools: list[Callable[..., Any]] | None = None,
    *,
    framework: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the framework's constructor kwargs for ``agent`` (the sync twin of ``dispatch_get_args``)."""
    builder = _builder_for(framework or agent.framework)
    ctx = BuildContext(
        agent=agent,
        api_key=llm_keys.resolve_llm_key(agent),
        extra_headers=dict(extra_headers or {}),
        task=task,
        override=override,
        tools=tools,
    )
    return builder(ctx)


async def dispatch_get_args(
    agent: AgentConfig,
    task: Task | None = None,
    override: Mapping[str, Any] | None = None,
    tools: list[Callable[..., Any]] | None = None,
    *,
    framework: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the framework's constructor kwargs for ``agent``, chosen by its ``framework`` field.

    ``override``'s keys win over the built ones; ``tools`` (plain functions are wrapped into the
    framework's tool type) are the agent's tools. Raises ``UnsupportedFramework`` for an unknown
    framework and ``FrameworkNotInstalled`` (naming the pip extra) when it is not importable.
    """
    return dispatch_get_args_sync(
        agent, task, override, tools, framework=framework, extra_headers=extra_headers
    )
