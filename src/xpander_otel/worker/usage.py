"""Tokens and tools of one task run, read from the spans of its trace as they end.

A task runs in its own trace (the task span is a new root), so a span processor that watches that trace id
sees exactly the run's spans: chat spans carry ``gen_ai.usage.*``, tool spans ``gen_ai.tool.name``.
The sums follow the assembler's rules: leaf LLM spans first, else the top agent span's aggregated usage.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .. import semconv
from ..models import Tokens

_LLM_OPERATIONS = {semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION, semconv.OP_GENERATE_CONTENT}
_AGENT_OPERATIONS = {semconv.OP_INVOKE_AGENT, semconv.OP_INVOKE_WORKFLOW}


@dataclass
class _Usage:
    prompt: int = 0
    completion: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def add(self, attributes) -> None:
        self.prompt += int(attributes.get(semconv.USAGE_INPUT_TOKENS) or 0)
        self.completion += int(attributes.get(semconv.USAGE_OUTPUT_TOKENS) or 0)
        self.cache_read += int(attributes.get(semconv.USAGE_CACHE_READ_INPUT_TOKENS) or 0)
        self.cache_write += int(attributes.get(semconv.USAGE_CACHE_WRITE_INPUT_TOKENS) or 0)

    def tokens(self) -> Tokens:
        return Tokens(prompt_tokens=self.prompt, completion_tokens=self.completion,
                      cache_read_tokens=self.cache_read, cache_write_tokens=self.cache_write)


@dataclass
class RunUsage:
    """What one task's spans say: LLM usage, the top agent span's usage, tools by start time."""

    llm: _Usage = field(default_factory=_Usage)
    llm_spans: int = 0
    top_agent: tuple[int, _Usage] | None = None
    tools: list[tuple[int, str]] = field(default_factory=list)

    def record(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        operation = attributes.get(semconv.OPERATION_NAME)
        start = span.start_time or 0
        if operation in _LLM_OPERATIONS:
            self.llm_spans += 1
            self.llm.add(attributes)
        elif operation in _AGENT_OPERATIONS and (self.top_agent is None or start < self.top_agent[0]):
            usage = _Usage()
            usage.add(attributes)
            self.top_agent = (start, usage)
        elif operation == semconv.OP_EXECUTE_TOOL and attributes.get(semconv.TOOL_NAME):
            self.tools.append((start, str(attributes[semconv.TOOL_NAME])))

    def tokens(self) -> Tokens | None:
        if self.llm_spans:
            return self.llm.tokens()
        return self.top_agent[1].tokens() if self.top_agent else None

    def used_tools(self) -> list[str]:
        """Distinct tool names in first-use order."""
        return list(dict.fromkeys(name for _, name in sorted(self.tools, key=lambda t: t[0])))


class RunUsageCollector(SpanProcessor):
    """Collects ``RunUsage`` for the trace ids it is told to watch; ignores every other span."""

    def __init__(self) -> None:
        self._runs: dict[int, RunUsage] = {}
        self._lock = threading.Lock()

    def watch(self, trace_id: int) -> None:
        with self._lock:
            self._runs[trace_id] = RunUsage()

    def release(self, trace_id: int) -> RunUsage:
        with self._lock:
            return self._runs.pop(trace_id, None) or RunUsage()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None:
            return
        with self._lock:
            run = self._runs.get(span.context.trace_id)
            if run is not None:
                run.record(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
