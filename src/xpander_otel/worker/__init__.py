"""Receive tasks from xpander (or the dev server), run them traced, and send their results back."""

from .decorator import on_task, worker_for
from .execution import execute
from .runner import EXIT_CONFLICT, Worker

__all__ = ["EXIT_CONFLICT", "Worker", "execute", "on_task", "worker_for"]
