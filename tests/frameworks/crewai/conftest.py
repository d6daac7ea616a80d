"""CrewAI test settings: its own telemetry and trace upload would try to reach the internet."""

import os

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
