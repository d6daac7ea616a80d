"""Imported first by the ADK get_args tests: LiteLLM must not download its model cost map on import."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
