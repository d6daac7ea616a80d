"""Configuration and every environment variable the package reads, in one place.

No other module calls ``os.environ``/``os.getenv``: they ask this module, so the list of variables
(and the docs' configuration reference) lives here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_BASE_URL = "https://inbound.xpander.ai"

# Environment variables of the xpander platform (the same names as xpander-sdk).
ENV_API_KEY = "XPANDER_API_KEY"
ENV_ORGANIZATION_ID = "XPANDER_ORGANIZATION_ID"
ENV_BASE_URL = "XPANDER_BASE_URL"
ENV_AGENT_ID = "XPANDER_AGENT_ID"
ENV_IS_CLOUD = "IS_XPANDER_CLOUD"

# Keys for agents that point at their own OpenAI-compatible endpoint.
ENV_OPENAI_COMPATIBLE_KEY = "OPENAI_COMPATIBLE_API_KEY"

# The span exporter (see ExporterSettings).
ENV_OTEL_SPOOL = "XPANDER_OTEL_SPOOL"
ENV_OTEL_AGENT_MAP = "XPANDER_OTEL_AGENT_MAP"
ENV_OTEL_MAX_SPANS_PER_TRACE = "XPANDER_OTEL_MAX_SPANS_PER_TRACE"
ENV_OTEL_MAX_OPEN_TRACES = "XPANDER_OTEL_MAX_OPEN_TRACES"
ENV_OTEL_TRACE_TTL = "XPANDER_OTEL_TRACE_TTL"
ENV_OTEL_MAX_SENDERS = "XPANDER_OTEL_MAX_SENDERS"
# Read to pick the default spool folder.
_ENV_XDG_CACHE_HOME = "XDG_CACHE_HOME"
_ENV_LOCALAPPDATA = "LOCALAPPDATA"

# The local dev server (`xpander-otel serve`): where its SQLite database lives.
ENV_DEVSERVER_DB = "XPANDER_OTEL_DEVSERVER_DB"
DEFAULT_DEVSERVER_PORT = 8765
DEFAULT_DEVSERVER_URL = f"http://127.0.0.1:{DEFAULT_DEVSERVER_PORT}"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def ensure_scheme(url: str) -> str:
    """Prefix ``https://`` when the URL carries no explicit http(s) scheme (as xpander-sdk does)."""
    if not url.lower().startswith(("http://", "https://")):
        return f"https://{url}"
    return url


def _is_agent_controller(base_url: str) -> bool:
    # xpander-sdk's rule: the agent-controller wants /{organization_id} appended to every path.
    parsed = urlparse(base_url)
    host = (parsed.hostname or "").lower()
    first_segment = parsed.path.strip("/").split("/", 1)[0].lower()
    return "agent-controller" in host or parsed.port == 9016 or first_segment == "agent-controller"


class Configuration(BaseModel):
    """Where and how to reach xpander: API key, organization and base URL.

    Every field falls back to its environment variable, so ``Configuration()`` is enough when
    ``XPANDER_API_KEY`` (and for an agent-controller, ``XPANDER_ORGANIZATION_ID``) are set.

    >>> cfg = Configuration(api_key="k", organization_id="org", base_url="http://127.0.0.1:9016")
    >>> cfg.get_full_url()
    'http://127.0.0.1:9016/org'
    """

    model_config = ConfigDict(validate_assignment=True)

    api_key: SecretStr | None = Field(default_factory=lambda: _secret(_env(ENV_API_KEY)))
    organization_id: str | None = Field(default_factory=lambda: _env(ENV_ORGANIZATION_ID))
    base_url: str = Field(default_factory=lambda: _env(ENV_BASE_URL) or DEFAULT_BASE_URL, validate_default=True)
    agent_id: str | None = Field(default_factory=lambda: _env(ENV_AGENT_ID))

    @field_validator("base_url", mode="before")
    @classmethod
    def _normalize_base_url(cls, value: str | None) -> str:
        if not value:
            value = _env(ENV_BASE_URL) or DEFAULT_BASE_URL
        return ensure_scheme(str(value)).rstrip("/")

    def get_full_url(self) -> str:
        """The API root: ``base_url``, plus ``/{organization_id}`` for an agent-controller host."""
        if _is_agent_controller(self.base_url):
            if not self.organization_id:
                raise ValueError(
                    f"{self.base_url} is an agent-controller URL, which needs an organization id: "
                    f"pass Configuration(organization_id=...) or set {ENV_ORGANIZATION_ID}."
                )
            return f"{self.base_url}/{self.organization_id}"
        return self.base_url

    def headers(self) -> dict[str, str]:
        """Request headers that authenticate with this configuration."""
        return {"x-api-key": self.api_key.get_secret_value()} if self.api_key else {}


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


def default_agent_id() -> str | None:
    """``XPANDER_AGENT_ID``: the agent to use when a call names none."""
    return _env(ENV_AGENT_ID)


def is_xpander_cloud() -> bool:
    """True only when ``IS_XPANDER_CLOUD`` is exactly ``true`` (the platform sets it in its containers)."""
    return os.environ.get(ENV_IS_CLOUD) == "true"


def env_secret(name: str) -> SecretStr | None:
    """A credential from the environment, wrapped so it cannot leak through repr or str."""
    return _secret(_env(name))


# --- the span exporter ---------------------------------------------------------------------------------

SPOOL_IN_MEMORY = ":memory:"


def default_spool_path() -> Path:
    """The user's cache folder (XDG on Linux, ~/Library/Caches, %LOCALAPPDATA%) / xpander-otel / spool."""
    if sys.platform == "win32":
        base = Path(_env(_ENV_LOCALAPPDATA) or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(_env(_ENV_XDG_CACHE_HOME) or Path.home() / ".cache")
    return base / "xpander-otel" / "spool.sqlite3"


class ExporterSettings(BaseModel):
    """Settings of ``XpanderSpanExporter``; each field falls back to its environment variable.

    - ``XPANDER_OTEL_SPOOL``: the SQLite spool file (default: ``default_spool_path()``; ``:memory:`` keeps
      reports in memory only, so a crash loses undelivered ones).
    - ``XPANDER_OTEL_AGENT_MAP``: framework agent name -> xpander agent id, as ``name=id,other=id2`` or a
      JSON object; used when a run carries no xpander id and no default agent id is set.
    - ``XPANDER_OTEL_MAX_SPANS_PER_TRACE`` (5000), ``XPANDER_OTEL_MAX_OPEN_TRACES`` (2000),
      ``XPANDER_OTEL_TRACE_TTL`` (seconds, 300): bounds of the per-trace buffers.
    - ``XPANDER_OTEL_MAX_SENDERS`` (4): reports in flight to xpander at once, at most. One sender is
      enough for a near API; more start only while requests are slow and reports wait.

    A malformed value raises ``ValueError`` naming the variable.
    """

    spool_path: str = Field(default_factory=lambda: _env(ENV_OTEL_SPOOL) or str(default_spool_path()))
    agent_map: dict[str, str] = Field(default_factory=lambda: parse_agent_map(_env(ENV_OTEL_AGENT_MAP)))
    max_spans_per_trace: int = Field(default_factory=lambda: _env_number(ENV_OTEL_MAX_SPANS_PER_TRACE, 5000, int),
                                     gt=0)
    max_open_traces: int = Field(default_factory=lambda: _env_number(ENV_OTEL_MAX_OPEN_TRACES, 2000, int), gt=0)
    trace_ttl_s: float = Field(default_factory=lambda: _env_number(ENV_OTEL_TRACE_TTL, 300.0, float), gt=0)
    max_senders: int = Field(default_factory=lambda: _env_number(ENV_OTEL_MAX_SENDERS, 4, int), gt=0)


def parse_agent_map(text: str | None) -> dict[str, str]:
    """``name=id,other=id2`` or ``{"name": "id"}`` -> dict; ``ValueError`` names the variable."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            mapping = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{ENV_OTEL_AGENT_MAP} is not valid JSON: {exc}") from None
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise ValueError(f"{ENV_OTEL_AGENT_MAP} must map agent names to agent id strings (a JSON object)")
        return {str(k): v for k, v in mapping.items()}
    mapping = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, agent_id = pair.partition("=")
        if not sep or not name.strip() or not agent_id.strip():
            raise ValueError(f"{ENV_OTEL_AGENT_MAP}: expected name=agent_id pairs separated by commas, "
                             f"got {pair!r}")
        mapping[name.strip()] = agent_id.strip()
    return mapping


def _env_number(name: str, default, kind):
    """A positive number from the environment. Checked here: pydantic does not validate what a
    ``default_factory`` returns, so the fields' ``gt=0`` covers only values passed as arguments."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be greater than 0, got {raw!r}")
    return value

def default_devserver_db() -> Path:
    """The dev server's database: ``XPANDER_OTEL_DEVSERVER_DB``, else ``tasks.sqlite3`` in the user's data folder."""
    explicit = _env(ENV_DEVSERVER_DB)
    if explicit:
        return Path(explicit).expanduser()
    # Imported here: platformdirs comes with the [server] extra, which the core install does not need.
    import platformdirs

    return Path(platformdirs.user_data_dir("xpander-otel", appauthor=False)) / "tasks.sqlite3"




# --- content capture (instrumentation) -------------------------------------------------------------

# The GenAI convention's switch for message content (prompts, tool arguments and results).
ENV_CAPTURE_MESSAGE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# Ours: the task's input and final result on the agent span (on by default: a task report needs them).
ENV_CAPTURE_TASK_CONTENT = "XPANDER_CAPTURE_TASK_CONTENT"
# Ours: the longest text we put in one attribute, in characters.
ENV_CONTENT_MAX_LENGTH = "XPANDER_CONTENT_MAX_LENGTH"
DEFAULT_CONTENT_MAX_LENGTH = 16_384

# Values of the GenAI switch that mean "capture on spans" (util-genai also accepts these modes).
_CAPTURE_ON = {"true", "1", "yes", "on", "span_only", "span_and_event"}
_CAPTURE_OFF = {"false", "0", "no", "off", "no_content", "event_only"}


class ContentCapture(BaseModel):
    """What text the instrumentors may put on spans; read once when an instrumentor is enabled.

    >>> ContentCapture(messages=False, task=True, max_length=100).task
    True
    """

    model_config = ConfigDict(frozen=True)

    messages: bool = False
    task: bool = True
    max_length: int = DEFAULT_CONTENT_MAX_LENGTH


def _flag(name: str, default: bool) -> bool:
    value = (_env(name) or "").strip().lower()
    if value in _CAPTURE_ON:
        return True
    if value in _CAPTURE_OFF:
        return False
    return default


def content_capture() -> ContentCapture:
    """Content-capture settings from ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``,
    ``XPANDER_CAPTURE_TASK_CONTENT`` and ``XPANDER_CONTENT_MAX_LENGTH``."""
    try:
        max_length = int(_env(ENV_CONTENT_MAX_LENGTH) or DEFAULT_CONTENT_MAX_LENGTH)
    except ValueError:
        max_length = DEFAULT_CONTENT_MAX_LENGTH
    return ContentCapture(
        messages=_flag(ENV_CAPTURE_MESSAGE_CONTENT, False),
        task=_flag(ENV_CAPTURE_TASK_CONTENT, True),
        max_length=max(max_length, 16),
    )


# --- the OTLP bridge -----------------------------------------------------------------------------------

ENV_BRIDGE_TOKEN = "XPANDER_BRIDGE_TOKEN"


def bridge_token() -> str | None:
    """``XPANDER_BRIDGE_TOKEN``: the bearer token OTLP clients must send to the bridge (None: no check)."""
    return _env(ENV_BRIDGE_TOKEN)


# --- xpander-otel doctor --------------------------------------------------------------------------------


def environment_variables() -> list[str]:
    """Every variable named by an ``ENV_*`` constant of this module, in the order they are defined."""
    return [value for name, value in globals().items() if name.startswith("ENV_") and isinstance(value, str)]


def variables_set(names: list[str]) -> dict[str, str]:
    """The given variables that are set (non-empty) and their values; callers must hide secrets."""
    return {name: value for name in names if (value := _env(name)) is not None}
