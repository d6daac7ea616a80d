"""Agent configuration -> keyword arguments for the framework the agent runs on.

>>> args = await dispatch_get_args(agent=agent_config, task=task)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .. import llm_keys
from ..models import AgentConfig, Task
from ._context import BuildContext, neutral_args

__all__ = ["BuildContext", "dispatch_get_args", "dispatch_get_args_sync", "neutral_args"]

Builder = Callable[[BuildContext], dict[str, Any]]

# framework value in the agent's configuration -> builder; "neutral" needs no framework installed.
_BUILDERS: dict[str, Builder] = {"neutral": neutral_args}


def _builder_for(framework: str) -> Builder:
    builder = _BUILDERS.get(framework)
    if builder is None:
        # Frameworks without a dedicated builder get the provider-neutral arguments.
        return neutral_args
    return builder


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
    ctx = BuildContext(
        agent=agent,
        api_key=llm_keys.resolve_llm_key(agent),
        extra_headers=dict(extra_headers or {}),
        task=task,
        override=override,
        tools=tools,
    )
    return _builder_for(framework or agent.framework)(ctx)


async def dispatch_get_args(
    agent: AgentConfig,
    task: Task | None = None,
    override: Mapping[str, Any] | None = None,
    tools: list[Callable[..., Any]] | None = None,
    *,
    framework: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the framework's constructor kwargs for ``agent``, chosen by its ``framework`` field."""
    return dispatch_get_args_sync(
        agent, task, override, tools, framework=framework, extra_headers=extra_headers
    )
