"""xpander-otel: connect AI-agent code to xpander.ai through OpenTelemetry.

>>> from xpander_otel import Backend
>>> args = Backend().get_args(agent_id="agent-123")   # doctest: +SKIP
"""

from ._configure import configure
from .client import Backend
from .config import Configuration
from .errors import ModuleException
from .models import AgentConfig, Task, TaskReport, Tokens
from .task_context import task

__all__ = [
    "AgentConfig",
    "Backend",
    "Configuration",
    "ModuleException",
    "Task",
    "TaskReport",
    "Tokens",
    "configure",
    "task",
]
__version__ = "0.1.0"
