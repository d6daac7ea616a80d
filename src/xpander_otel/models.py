"""Pydantic wire models of the xpander API: tokens, agent configuration, tasks and task reports.

Field names and JSON shapes are those of xpander-sdk 2.x, so bodies on the wire are the same.
Unknown fields from the server are kept (``extra="allow"``): the platform adds fields often.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from .config import Configuration


class Tokens(BaseModel):
    """Token usage of a task. ``total_tokens`` defaults to prompt + completion.

    Cache counts are reported beside, never folded into the total: providers disagree on whether
    cached tokens are already part of ``prompt_tokens``.

    >>> Tokens(prompt_tokens=2_140, completion_tokens=380).total_tokens
    2520
    """

    completion_tokens: int = 0
    prompt_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    total_tokens: int | None = None

    @model_validator(mode="after")
    def _default_total(self) -> Tokens:
        if self.total_tokens is None:
            self.total_tokens = self.prompt_tokens + self.completion_tokens
        return self


class AgentInstructions(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: list[str] = Field(default_factory=list)
    goal: list[str] = Field(default_factory=list)
    general: str = ""

    def as_text(self) -> str:
        """Role, goal and general instructions as one system prompt, in that order."""
        parts = [*self.role, *self.goal]
        if self.general:
            parts.append(self.general)
        return "\n".join(p for p in parts if p)


class LLMCredentials(BaseModel):
    """The agent's custom LLM key. ``value`` is a secret: it never shows in a repr or a log."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    description: str | None = None
    value: SecretStr | None = None


class AgentConfig(BaseModel):
    """An agent as ``GET /agents/{agent_id}`` returns it (the fields this package uses, and any others)."""

    # protected_namespaces=(): xpander's own field names start with "model_" (pydantic < 2.10 warns on import).
    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    id: str
    name: str = ""
    description: str | None = None
    organization_id: str | None = None
    unique_name: str | None = None
    instructions: AgentInstructions = Field(default_factory=AgentInstructions)
    framework: str = "agno"
    model_provider: str = "openai"
    model_name: str = "gpt-4.1"
    llm_api_base: str | None = None
    llm_extra_headers: dict[str, str] | None = None
    llm_credentials: LLMCredentials | None = None
    output_format: str | None = None
    output_schema: dict[str, Any] | None = None
    expected_output: str | None = None
    version: int | None = None
    tools: Any = None


class TaskInput(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str = ""
    files: list[Any] = Field(default_factory=list)
    user: Any = None


class Task(BaseModel):
    """A task as the platform returns it (report_task, task status, worker events).

    ``@on_task`` handlers receive one: ``configuration`` is where it came from (never serialized), so
    ``Backend(task.configuration)`` talks to the same server; set ``result`` (and optionally ``tokens``,
    ``used_tools``, ``status``) and return it.
    """

    model_config = ConfigDict(extra="allow")

    configuration: Configuration | None = Field(default=None, exclude=True, repr=False)
    id: str
    agent_id: str | None = None
    organization_id: str | None = None
    input: TaskInput | str | None = None
    status: str | None = None
    result: str | None = None
    created_at: datetime | str | None = None
    agent_version: int | str | None = None
    output_format: str | None = None
    output_schema: dict[str, Any] | None = None
    instructions_override: str | None = None
    additional_context: str | None = None
    tokens: Tokens | None = None
    used_tools: list[str] | None = None

    def to_message(self) -> str:
        """The task's input as the user message for an agent run: the text, then its files' URLs."""
        if not isinstance(self.input, TaskInput):
            return self.input or ""
        message = self.input.text
        files = [str(f) for f in self.input.files if f]
        if files:
            message = f"{message}\nFiles: {', '.join(files)}" if message else f"Files: {', '.join(files)}"
        return message

    def to_wire(self) -> dict[str, Any]:
        """The JSON body of ``PATCH /agent-execution/{id}/update``: every field, unknown ones included."""
        return self.model_dump(mode="json")


class TaskReport(BaseModel):
    """Body of ``POST /agent-execution/{agent_id}/report_task``: one externally-run task."""

    id: str | None = None
    input: str | None = None
    llm_response: Any = None
    tokens: Tokens | None = None
    is_success: bool | None = True
    result: str | None = None
    duration: float | None = 0
    used_tools: list[str] | None = Field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body, as xpander-sdk sends it (every field present, nulls included)."""
        return self.model_dump(mode="json")
