"""The OTLP/HTTP receiver for an in-process report store (the dev server's ``record_report``).

The same receiver, grace window and assembler as the bridge; the reports go straight to a function
instead of a spool and an HTTP API, because the store is in the same process.

>>> routes, pipeline = create_local_otlp_routes(lambda agent_id, report: app.state.record_report(agent_id, report))
>>> app = create_app(settings, extra_routes=routes)     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import Route

from .. import llm_keys
from ..exporter.assembler import Assembler, AssemblerSettings
from ..models import TaskReport
from .http import create_otlp_routes
from .limits import ReceiverLimits
from .pipeline import BridgePipeline, PipelineSettings

log = llm_keys.get_logger(__name__)


class StoreDelivery:
    """``Delivery``'s ``submit``/``shutdown`` over a store function: no spool, nothing to retry."""

    def __init__(self, record_report: Callable[[str, TaskReport], Any]) -> None:
        self._record_report = record_report
        self.delivered = 0
        self.dropped = 0

    def submit(self, items: list[tuple[str, TaskReport | dict[str, Any]]]) -> bool:
        for agent_id, report in items:
            try:
                if not isinstance(report, TaskReport):  # the assembler's wire dict
                    report = TaskReport.model_validate(report)
                self._record_report(agent_id, report)
            except Exception as exc:  # e.g. an unknown agent: that report only
                self.dropped += 1
                log.warning("OTLP receiver could not store the task report of agent %s: %s", agent_id,
                            llm_keys.scrub(str(exc)))
            else:
                self.delivered += 1
        return True

    def shutdown(self, timeout_s: float) -> bool:
        return True


def create_local_otlp_routes(
    record_report: Callable[[str, TaskReport], Any],
    *,
    default_agent_id: str | None = None,
    grace_s: float = 1.0,
    auth_token: str | None = None,
    limits: ReceiverLimits | None = None,
) -> tuple[list[Route], BridgePipeline]:
    """``POST /v1/traces`` storing each assembled task with ``record_report``; close the pipeline at exit."""
    assembler = Assembler(AssemblerSettings(default_agent_id=default_agent_id, pending_grace_s=grace_s))
    pipeline = BridgePipeline(assembler, StoreDelivery(record_report), PipelineSettings(grace_s=grace_s))
    return create_otlp_routes(pipeline.ingest, auth_token=auth_token, limits=limits), pipeline
