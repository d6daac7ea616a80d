"""Agent definitions for the dev server: validation, defaults, and loading them from a YAML/JSON file.

A definition needs only a ``name``; every field that xpander-sdk's ``Agent`` model requires
(``id``, ``organization_id``, ``unique_name``, ``framework``, ``model_provider``, ``model_name``, ...)
gets a default, so both our ``Backend`` and the real xpander-sdk load the agent unchanged.

``llm_api_base`` may contain ``{server_url}``: it is replaced by the server's own URL when the agent is
served, so an agent file can point its model at the scripted LLM (``{server_url}/v1``) on any port.
"""

from __future__ import annotations

import json
import re
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..models import AgentInstructions

DEFAULT_ORGANIZATION_ID = "local"
SERVER_URL_PLACEHOLDER = "{server_url}"
EXAMPLE_AGENTS_FILE = "example_agents.yaml"


class AgentDefinition(BaseModel):
    """An agent as ``POST /agents`` or an agents file gives it; unknown fields are kept and served."""

    # protected_namespaces=(): xpander's own field names start with "model_" (pydantic < 2.10 warns on import).
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str = Field(min_length=1)
    id: str | None = None
    version: int | None = Field(default=None, ge=1)
    organization_id: str = DEFAULT_ORGANIZATION_ID
    unique_name: str | None = None
    description: str = ""
    icon: str = "🚀"
    status: str = "ACTIVE"
    framework: str = "agno"
    model_provider: str = "openai"
    model_name: str = "gpt-4.1"
    llm_api_base: str | None = None
    llm_extra_headers: dict[str, str] = Field(default_factory=dict)
    instructions: AgentInstructions = Field(default_factory=AgentInstructions)
    output_format: str = "markdown"
    output_schema: dict[str, Any] | None = None
    expected_output: str = ""
    tools: list[Any] = Field(default_factory=list)
    graph: list[Any] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _usable_in_a_path(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", value):
            raise ValueError("must be 1-128 letters, digits or . _ : - (it is used in URLs)")
        return value

    def to_stored(self) -> dict[str, Any]:
        """The agent as the server stores and serves it, every default filled in."""
        body = self.model_dump(mode="json")
        body["id"] = self.id or str(uuid.uuid4())
        body["unique_name"] = self.unique_name or _slug(self.name)
        return body


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "agent"


def for_server(agent: dict[str, Any], server_url: str) -> dict[str, Any]:
    """The stored agent as served: ``{server_url}`` in ``llm_api_base`` becomes this server's URL."""
    base = agent.get("llm_api_base")
    if isinstance(base, str) and SERVER_URL_PLACEHOLDER in base:
        return {**agent, "llm_api_base": base.replace(SERVER_URL_PLACEHOLDER, server_url.rstrip("/"))}
    return agent


def summary(agent: dict[str, Any]) -> dict[str, Any]:
    """An item of ``GET /agents/list`` (xpander-sdk's ``AgentsListItem`` fields)."""
    keys = ("id", "name", "icon", "instructions", "status", "organization_id", "created_at", "description",
            "version", "framework", "model_provider", "model_name")
    return {k: agent.get(k) for k in keys}


class AgentsFileError(ValueError):
    """The agents file cannot be read or one of its agents is invalid; the message says which."""


def load_agents_file(path: str | Path | None) -> list[AgentDefinition]:
    """Agents from a YAML or JSON file: a list of agents, or ``{"agents": [...]}``.

    ``None`` loads the example agents that ship with the package.
    """
    if path is None:
        text = resources.files(__package__).joinpath(EXAMPLE_AGENTS_FILE).read_text(encoding="utf-8")
        source = EXAMPLE_AGENTS_FILE
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise AgentsFileError(f"cannot read agents file {path}: {exc.strerror}") from None
        source = str(path)
    try:
        data = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise AgentsFileError(f"{source} is not valid {'JSON' if source.endswith('.json') else 'YAML'}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("agents")
    if not isinstance(data, list):
        raise AgentsFileError(f"{source} must hold a list of agents (or a mapping with an 'agents' list)")
    agents = []
    for index, item in enumerate(data):
        try:
            agents.append(AgentDefinition.model_validate(item))
        except ValidationError as exc:
            raise AgentsFileError(f"{source}: agent #{index + 1} is invalid: {_first_error(exc)}") from None
        if agents[-1].id is None:
            raise AgentsFileError(f"{source}: agent #{index + 1} ({agents[-1].name}) needs an 'id'")
    return agents


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "agent"
    return f"{where}: {error['msg']}"
