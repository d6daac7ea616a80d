"""What every framework builder receives, and the provider-neutral arguments they all start from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from ..models import AgentConfig, Task


@dataclass(frozen=True)
class BuildContext:
    """An agent's configuration with its key already resolved, plus the caller's task and extras."""

    agent: AgentConfig
    api_key: SecretStr
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    task: Task | None = None
    override: Mapping[str, Any] | None = None
    tools: list[Callable[..., Any]] | None = None

    @property
    def instructions(self) -> str:
        text = self.agent.instructions.as_text()
        if self.task is not None and self.task.instructions_override:
            text = f"{text}\n{self.task.instructions_override}" if text else self.task.instructions_override
        return text

    @property
    def headers(self) -> dict[str, str]:
        """Extra LLM headers: the organization defaults, then the agent's own on top."""
        return {**self.extra_headers, **(self.agent.llm_extra_headers or {})}


def neutral_args(ctx: BuildContext) -> dict[str, Any]:
    """Provider-neutral agent arguments, for frameworks without a builder of their own.

    Keys: ``agent_id``, ``name``, ``description``, ``model_provider``, ``model_name``, ``api_base``,
    ``api_key`` (a ``SecretStr``; call ``get_secret_value()`` when handing it to a client),
    ``extra_headers``, ``instructions``, ``tools``, ``task_id``.
    """
    args: dict[str, Any] = {
        "agent_id": ctx.agent.id,
        "name": ctx.agent.name,
        "description": ctx.agent.description,
        "model_provider": ctx.agent.model_provider,
        "model_name": ctx.agent.model_name,
        "api_base": ctx.agent.llm_api_base,
        "api_key": ctx.api_key,
        "extra_headers": ctx.headers,
        "instructions": ctx.instructions,
        "tools": list(ctx.tools or []),
        "task_id": ctx.task.id if ctx.task else None,
    }
    args.update(ctx.override or {})
    return args
