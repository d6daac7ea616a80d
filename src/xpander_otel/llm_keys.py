"""Which LLM key an agent's model gets, and keeping keys out of logs.

Policy (DESIGN.md):
- On xpander Cloud (``IS_XPANDER_CLOUD=true``) the agent's custom key wins, then the environment.
- Locally the environment wins (``AGENTS_<PROVIDER>_API_KEY``, then the provider's usual variable),
  then the custom key.
- An agent with its own ``llm_api_base`` (not the provider's canonical host) gets only its custom key,
  else ``OPENAI_COMPATIBLE_API_KEY``, else the placeholder ``EMPTY``: a provider key from the
  environment is never sent to a host the agent chose.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import urlparse

from pydantic import SecretStr

from . import config
from .models import AgentConfig

PLACEHOLDER_KEY = "EMPTY"

# The provider's usual key variable, by xpander's model_provider value.
PROVIDER_KEY_VARIABLES: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GOOGLE_API_KEY",
    "google_ai_studio": "GOOGLE_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "nim": "NVIDIA_API_KEY",
    "open_router": "OPENROUTER_API_KEY",
    "nebius": "NEBIUS_API_KEY",
    "helicone": "HELICONE_API_KEY",
    "z_ai": "Z_AI_API_KEY",
    "azure_ai_foundary": "AZURE_API_KEY",
    "cloudflare_ai_gw": "CLOUDFLARE_AI_GW_API_KEY",
    "openai_compatible": config.ENV_OPENAI_COMPATIBLE_KEY,
}

# Hosts a provider's own SDK talks to; an llm_api_base on any other host is the agent's own endpoint.
CANONICAL_HOSTS: dict[str, tuple[str, ...]] = {
    "openai": ("api.openai.com",),
    "anthropic": ("api.anthropic.com",),
    "gemini": ("generativelanguage.googleapis.com",),
    "google_ai_studio": ("generativelanguage.googleapis.com",),
    "fireworks": ("api.fireworks.ai",),
    "nim": ("integrate.api.nvidia.com",),
    "open_router": ("openrouter.ai",),
    "nebius": ("api.studio.nebius.ai", "api.studio.nebius.com"),
    "helicone": ("ai-gateway.helicone.ai",),
    "z_ai": ("api.z.ai",),
}


def key_variables(provider: str) -> list[str]:
    """Environment variables consulted for a provider, in order of preference."""
    names = [f"AGENTS_{provider.upper()}_API_KEY"]
    usual = PROVIDER_KEY_VARIABLES.get(provider)
    if usual and usual not in names:
        names.append(usual)
    return names


def uses_own_endpoint(agent: AgentConfig) -> bool:
    """True when the agent's ``llm_api_base`` is not its provider's canonical host."""
    if not agent.llm_api_base:
        return False
    host = (urlparse(config.ensure_scheme(agent.llm_api_base)).hostname or "").lower()
    return host not in CANONICAL_HOSTS.get(agent.model_provider, ())


def resolve_llm_key(
    agent: AgentConfig,
    *,
    is_cloud: bool | None = None,
    env: Callable[[str], SecretStr | None] = config.env_secret,
) -> SecretStr:
    """The key the agent's model client must use, as a secret (``EMPTY`` when there is none)."""
    custom = _custom_key(agent)
    if uses_own_endpoint(agent):
        key = custom or env(config.ENV_OPENAI_COMPATIBLE_KEY)
        return remember(key or SecretStr(PLACEHOLDER_KEY))

    from_env = next((k for k in map(env, key_variables(agent.model_provider)) if k), None)
    cloud = config.is_xpander_cloud() if is_cloud is None else is_cloud
    key = (custom or from_env) if cloud else (from_env or custom)
    return remember(key or SecretStr(PLACEHOLDER_KEY))


def _custom_key(agent: AgentConfig) -> SecretStr | None:
    creds = agent.llm_credentials
    if creds and creds.value and creds.value.get_secret_value():
        return creds.value
    return None


# --- redaction -------------------------------------------------------------------------------------

_known_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_REDACTED = "**********"


def remember(secret: SecretStr | None) -> SecretStr | None:
    """Register a secret so ``scrub`` and the log filter can remove it from any text."""
    if secret is not None:
        value = secret.get_secret_value()
        if len(value) >= 8 and value != PLACEHOLDER_KEY:
            with _secrets_lock:
                _known_secrets.add(value)
    return secret


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by asterisks."""
    for value in tuple(_known_secrets):
        if value in text:
            text = text.replace(value, _REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs registered secrets from every record of our loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known_secrets:
            message = record.getMessage()
            cleaned = scrub(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_filter = RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    """The package's loggers: each carries the redacting filter (filters are not inherited)."""
    logger = logging.getLogger(name)
    if _filter not in logger.filters:
        logger.addFilter(_filter)
    return logger
