"""Finished agent runs -> task reports: DESIGN.md's "Task report rules", as pure logic.

Spans arrive in any order and in batches (children usually before their parents). The assembler keeps a
bounded buffer per trace and reports a task when its root is known:

- a **task root** is an agent span with no agent span above it. That is certain once the parent chain
  reaches the trace's local root, or when the span record says no agent was open above it; otherwise the
  span waits (``pending_grace_s``) for its parents, then is reported as a root anyway;
- spans that arrive after their task was reported produce an updated report under the same id;
- a trace whose local root ended without any agent span is dropped at once.

No I/O, no configuration import: settings arrive as arguments and time as ``now`` (seconds, monotonic).

>>> assembler = Assembler(AssemblerSettings(default_agent_id="agent-1"))
>>> tasks = assembler.add(records, now=time.monotonic())   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .. import semconv
from ..models import TaskReport
from . import conventions as conv
from .spans import SpanRecord, trace_id_hex

# Task ids derived from (trace id, root span id): every process and the bridge derive the same id.
_TASK_ID_NAMESPACE = uuid.UUID("6f1c2d0e-6a55-5b0c-9d3e-7870616e6465")


# The namespace already hashed: each id copies this state and adds its name.
_TASK_ID_HASH = hashlib.sha1(_TASK_ID_NAMESPACE.bytes)
# A UUID's variant nibble: its two top bits set to RFC 4122's 10, by the hex digit it replaces.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def task_id_for(trace_id: int, span_id: int) -> str:
    """The deterministic task id of the run rooted at ``span_id`` in ``trace_id``.

    ``str(uuid.uuid5(_TASK_ID_NAMESPACE, name))``, computed without the UUID object (a third of the cost):
    the SHA-1's first 32 hex digits with the version digit set to 5 and the variant digit's top bits to 10.
    """
    digest = _TASK_ID_HASH.copy()
    digest.update(b"%032x/%016x" % (trace_id, span_id))
    x = digest.hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT_DIGIT[x[16]]}{x[17:20]}-{x[20:32]}"


@dataclass(frozen=True)
class AssemblerSettings:
    default_agent_id: str | None = None
    agent_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    max_spans_per_trace: int = 5_000
    max_open_traces: int = 2_000
    trace_ttl_s: float = 300.0
    pending_grace_s: float = 10.0


@dataclass(slots=True)
class AssembledTask:
    """One report, with what the delivery needs to address it. ``agent_id`` None: nobody to report to.

    ``body`` is the report as it goes on the wire, exactly ``TaskReport.to_wire()``; it is built as a plain
    dict because building and dumping the pydantic models took half of the assembly. Never changed once
    made (not ``frozen=True`` only because a frozen ``__init__`` is slow, as for ``SpanRecord``).
    """

    agent_id: str | None
    body: dict[str, Any]
    trace_id: int
    root_span_id: int
    agent_name: str | None
    incomplete: bool

    @property
    def report(self) -> TaskReport:
        """The report as a ``TaskReport`` model (built on each call)."""
        return TaskReport.model_validate(self.body)


class _Trace:
    __slots__ = ("children", "incomplete", "last_seen", "pending", "reported", "spans")

    def __init__(self, now: float) -> None:
        # Every stored record was classified on arrival: ``record._kind.agent`` says whether it is an agent.
        self.spans: dict[int, SpanRecord] = {}
        self.children: dict[int, list[int]] = {}
        self.pending: dict[int, float] = {}  # agent span id -> when it arrived, waiting for its parents
        self.reported: dict[int, dict[str, Any]] = {}  # task root span id -> last reported body
        self.last_seen = now
        self.incomplete = False


class Assembler:
    """Per-trace buffers and the task report rules. Not thread-safe: one caller at a time."""

    def __init__(self, settings: AssemblerSettings | None = None) -> None:
        self.settings = settings or AssemblerSettings()
        self._traces: OrderedDict[int, _Trace] = OrderedDict()
        # Traces whose runs are all reported (kept only for late spans): evicted before any trace that
        # still holds a run's spans, or each ending run would push out the next one's children.
        self._settled: OrderedDict[int, None] = OrderedDict()
        # Traces evicted with spans still buffered: a run of theirs that ends later is reported incomplete.
        self._evicted: OrderedDict[int, None] = OrderedDict()

    @property
    def open_traces(self) -> int:
        return len(self._traces)

    def mark_incomplete(self, trace_id: int, now: float) -> None:
        """Spans of this trace were lost before they reached us: its reports say so."""
        self._trace(trace_id, now).incomplete = True

    def add(self, records: Iterable[SpanRecord], now: float) -> list[AssembledTask]:
        """Take finished spans; return the reports (new or updated) they complete."""
        new_by_trace: dict[int, list[SpanRecord]] = {}
        trace_id, trace, new = None, None, []
        cap = self.settings.max_spans_per_trace
        for record in records:
            kind = record._kind or conv.kind(record)  # classified once, here; the rules below read the kind
            if kind.ignored:
                continue
            if record.trace_id != trace_id:  # a batch holds runs of spans of one trace: look each up once
                trace_id = record.trace_id
                trace = self._trace(trace_id, now)
                new = new_by_trace.setdefault(trace_id, [])
            if self._store(trace, record, kind.agent, cap):
                new.append(record)
        out: list[AssembledTask] = []
        for trace_id, new in new_by_trace.items():
            trace = self._traces.get(trace_id)
            if trace is not None and new:
                out.extend(self._settle(trace_id, trace, new, now))
        out.extend(self._evict_over_cap())
        return out

    def expire(self, now: float) -> list[AssembledTask]:
        """Report agent spans that waited past the grace period; forget traces idle past the TTL."""
        out: list[AssembledTask] = []
        grace, ttl = self.settings.pending_grace_s, self.settings.trace_ttl_s
        for trace_id, trace in list(self._traces.items()):
            if now - trace.last_seen >= ttl:
                out.extend(self._report_pending(trace_id, trace, _always))
                self._forget(trace_id)
            elif trace.pending:
                # A span known to sit under an agent waits for that agent (or the TTL), not the grace period.
                out.extend(self._report_pending(
                    trace_id, trace, lambda span, since: not span.agent_ancestor and now - since >= grace))
        return out

    def flush(self) -> list[AssembledTask]:
        """Report every waiting agent span now (at shutdown: nothing more will arrive)."""
        out: list[AssembledTask] = []
        for trace_id, trace in self._traces.items():
            out.extend(self._report_pending(trace_id, trace, _always))
        return out

    # --- buffering -------------------------------------------------------------------------------------

    def _trace(self, trace_id: int, now: float) -> _Trace:
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = _Trace(now)
            trace.incomplete = trace_id in self._evicted
        else:
            self._traces.move_to_end(trace_id)
            trace.last_seen = max(trace.last_seen, now)
        return trace

    @staticmethod
    def _store(trace: _Trace, record: SpanRecord, is_agent: bool, cap: int) -> bool:
        spans, span_id = trace.spans, record.span_id
        if span_id in spans:
            return False  # a re-sent span
        # Over the cap, keep what decides a report (agent spans, local roots); drop the rest and say so.
        if len(spans) >= cap and not (is_agent or record.is_local_root):
            trace.incomplete = True
            return False
        spans[span_id] = record
        parent_id = record.parent_id
        if parent_id is not None:
            children = trace.children.get(parent_id)
            if children is None:
                trace.children[parent_id] = [span_id]
            else:
                children.append(span_id)
        return True

    def _evict_over_cap(self) -> list[AssembledTask]:
        out: list[AssembledTask] = []
        while len(self._traces) > self.settings.max_open_traces:
            if self._settled:
                trace_id, _ = self._settled.popitem(last=False)
                self._traces.pop(trace_id, None)  # all its runs are reported: nothing is lost
                continue
            trace_id, trace = self._traces.popitem(last=False)
            trace.incomplete = trace.incomplete or bool(trace.pending)
            out.extend(self._report_pending(trace_id, trace, _always))
            self._evicted[trace_id] = None
            if len(self._evicted) > self.settings.max_open_traces:
                self._evicted.popitem(last=False)
        return out

    def _forget(self, trace_id: int) -> None:
        del self._traces[trace_id]
        self._settled.pop(trace_id, None)

    # --- the rules -------------------------------------------------------------------------------------

    def _settle(self, trace_id: int, trace: _Trace, new: list[SpanRecord], now: float) -> list[AssembledTask]:
        roots: set[int] = set()
        candidates = [s.span_id for s in new if s._kind.agent]
        if trace.pending:
            candidates.extend(sid for sid in trace.pending if sid not in candidates)
        for span_id in candidates:
            top, reached_root = self._top_agent(trace, span_id)
            span = trace.spans[span_id]
            if top != span_id:
                trace.pending.pop(span_id, None)
                if top in trace.reported:
                    roots.add(top)  # a late nested agent: update its task
            elif reached_root or span.agent_ancestor is False:
                trace.pending.pop(span_id, None)
                roots.add(span_id)
            else:
                trace.pending.setdefault(span_id, now)
        for span in new if trace.reported else ():
            if not span._kind.agent:
                top, _ = self._top_agent(trace, span.span_id)
                if top is not None and top in trace.reported:
                    roots.add(top)  # a late span of a reported task
        in_order = sorted(roots, key=lambda r: trace.spans[r].start_ns) if len(roots) > 1 else roots
        out = [task for root in in_order if (task := self._report(trace_id, trace, root)) is not None]
        for span in new:
            if span.is_local_root and not trace.reported.get(span.span_id):
                self._drop_if_agentless(trace, span.span_id)
        if not trace.spans:
            self._forget(trace_id)
        elif trace.reported and not trace.pending:
            self._settled[trace_id] = None
            self._settled.move_to_end(trace_id)
        else:
            self._settled.pop(trace_id, None)
        return out

    def _drop_if_agentless(self, trace: _Trace, local_root: int) -> None:
        """A local root ended with no agent span below it: nothing there will become a report."""
        subtree = self._subtree(trace, local_root)
        if any(s._kind.agent for s in subtree):
            return
        for span in subtree:
            del trace.spans[span.span_id]
            trace.children.pop(span.span_id, None)

    def _top_agent(self, trace: _Trace, span_id: int) -> tuple[int | None, bool]:
        """The top-most agent span at or above ``span_id``, and whether the walk reached a local root."""
        top: int | None = None
        span = trace.spans.get(span_id)
        for _ in range(len(trace.spans) + 1):  # bounds the walk even on malformed (cyclic) data
            if span is None:
                return top, False
            if span._kind.agent:
                top = span.span_id
            if span.is_local_root:
                return top, True
            span = trace.spans.get(span.parent_id)  # type: ignore[arg-type]
        return top, False

    def _report_pending(self, trace_id: int, trace: _Trace,
                        due: Callable[[SpanRecord, float], bool]) -> list[AssembledTask]:
        out: list[AssembledTask] = []
        for span_id, since in list(trace.pending.items()):
            if not due(trace.spans[span_id], since):
                continue
            del trace.pending[span_id]
            top, _ = self._top_agent(trace, span_id)
            root = top if top is not None else span_id
            if root not in trace.reported or root == span_id:
                task = self._report(trace_id, trace, root)
                if task is not None:
                    out.append(task)
        return out

    def _report(self, trace_id: int, trace: _Trace, root_id: int) -> AssembledTask | None:
        """The report of the task rooted at ``root_id``, or None when it equals the one already sent."""
        task = build_task(trace_id, trace.spans[root_id], self._subtree(trace, root_id), self.settings,
                          incomplete=trace.incomplete)
        if trace.reported.get(root_id) == task.body:
            return None
        trace.reported[root_id] = task.body
        return task

    @staticmethod
    def _subtree(trace: _Trace, root_id: int) -> list[SpanRecord]:
        seen = {root_id}
        order = [root_id]
        for span_id in order:  # grows while iterating: breadth-first
            for child in trace.children.get(span_id, ()):
                if child not in seen and child in trace.spans:
                    seen.add(child)
                    order.append(child)
        return [trace.spans[s] for s in order]


def _always(_span: SpanRecord, _since: float) -> bool:
    return True


# --- one task from its spans ---------------------------------------------------------------------------

def build_task(trace_id: int, root: SpanRecord, subtree: list[SpanRecord], settings: AssemblerSettings,
               *, incomplete: bool = False) -> AssembledTask:
    """The task report of ``root`` and its subtree (root first, parents before children)."""
    incomplete = incomplete or bool(root.attributes.get(semconv.XPANDER_TASK_INCOMPLETE))
    calls_by_family, tools, calls_have_children = _llm_calls_and_tools(subtree)
    usage, last_llm = _usage(root, subtree, calls_by_family, calls_have_children)
    name = conv.agent_name(root)
    last_text = conv.output_text(last_llm) if last_llm is not None else None  # read once, used twice
    result = (root.error_message or _error_type(root) or "error") if root.is_error else conv.task_result(root)
    if result is None and not root.is_error:
        result = last_text
    body = {  # the fields of TaskReport, in its order (to_wire() keeps that order)
        "id": conv.string_attribute(root, semconv.XPANDER_TASK_ID) or task_id_for(trace_id, root.span_id),
        "input": conv.task_input(root),
        "llm_response": _llm_response(trace_id, last_llm, last_text, incomplete),
        "tokens": _tokens(usage),
        "is_success": not root.is_error,
        "result": result,
        "duration": max(0, root.end_ns - root.start_ns) / 1e9,
        "used_tools": tools,
    }
    return AssembledTask(_agent_id(root, name, settings), body, trace_id, root.span_id, name, incomplete)


def _tokens(usage: conv.Usage) -> dict[str, int]:
    """``Tokens(...).model_dump()``: its fields in its order, the total being prompt + completion."""
    return {"completion_tokens": usage.completion, "prompt_tokens": usage.prompt,
            "cache_read_tokens": usage.cache_read, "cache_write_tokens": usage.cache_write,
            "total_tokens": usage.prompt + usage.completion}


def _llm_calls_and_tools(subtree: list[SpanRecord]) -> tuple[dict[str, list[SpanRecord]], list[str], bool]:
    """The LLM call spans by token family, the distinct tool names in first-use order, and whether any call
    has a span below it (one pass; ``subtree`` lists parents before children)."""
    by_family: dict[str, list[SpanRecord]] = {}
    named: list[tuple[int, int, str]] = []
    call_ids: set[int] = set()
    calls_have_children = False
    for i, span in enumerate(subtree):
        kind = span._kind or conv.kind(span)  # classified when it arrived, as a rule
        if span.parent_id in call_ids:
            calls_have_children = True
        if kind.llm_family is not None:
            by_family.setdefault(kind.llm_family, []).append(span)
            call_ids.add(span.span_id)
        if kind.tool_name:
            named.append((span.start_ns, i, kind.tool_name))
    named.sort()
    return by_family, list(dict.fromkeys(name for _, _, name in named)), calls_have_children


def _usage(root: SpanRecord, subtree: list[SpanRecord], by_family: dict[str, list[SpanRecord]],
           calls_have_children: bool) -> tuple[conv.Usage, SpanRecord | None]:
    """Summed usage of the leaf LLM spans of one family (the first present), and the last LLM span."""
    for family in conv.FAMILIES:
        calls = by_family.get(family)
        if calls:
            break
    else:
        return conv.aggregate_usage(root), None
    leaves = _leaf_calls(root, subtree, calls) if calls_have_children else calls
    prompt = completion = cache_read = cache_write = 0
    last = leaves[0]
    for span in leaves:
        usage = (span._kind or conv.kind(span)).llm_usage
        prompt += usage.prompt
        completion += usage.completion
        cache_read += usage.cache_read
        cache_write += usage.cache_write
        if span.end_ns > last.end_ns or (span.end_ns == last.end_ns and span.start_ns > last.start_ns):
            last = span  # the latest to end (then to start); the first of exact ties
    return conv.Usage(prompt, completion, cache_read, cache_write), last


def _leaf_calls(root: SpanRecord, subtree: list[SpanRecord], calls: list[SpanRecord]) -> list[SpanRecord]:
    """The calls without a call of their family below: an LLM span with one below wraps the same call
    (two libraries instrumenting it), so only the lowest counts."""
    call_ids = {s.span_id for s in calls}
    if call_ids.isdisjoint(s.parent_id for s in subtree):
        return calls  # no call has a child at all, so none has a call below it
    by_id = {s.span_id: s for s in subtree}
    wrappers: set[int] = set()
    for span in calls:
        parent = by_id.get(span.parent_id) if span.span_id != root.span_id else None  # type: ignore[arg-type]
        for _ in range(len(subtree)):
            if parent is None or parent.span_id in wrappers:
                break
            if parent.span_id in call_ids:
                wrappers.add(parent.span_id)
            if parent.span_id == root.span_id:
                break
            parent = by_id.get(parent.parent_id)  # type: ignore[arg-type]
    return [s for s in calls if s.span_id not in wrappers]


def _llm_response(trace_id: int, last: SpanRecord | None, last_text: str | None,
                  incomplete: bool) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if last is not None:
        usage = conv.kind(last).llm_usage
        response = {
            "model": conv.model_name(last),
            "content": last_text,
            "finish_reason": conv.first_finish_reason(last),
            "usage": {"prompt_tokens": usage.prompt, "completion_tokens": usage.completion,
                      "total_tokens": usage.prompt + usage.completion},
        }
    response["trace_id"] = trace_id_hex(trace_id)
    if incomplete:
        # Spans of this run were lost (queue overflow, buffer cap): the figures are lower bounds.
        response["incomplete"] = True
    return response


def _error_type(span: SpanRecord) -> str | None:
    value = span.attributes.get("error.type")
    return str(value) if value else None


def _agent_id(root: SpanRecord, name: str | None, settings: AssemblerSettings) -> str | None:
    """xpander.agent.id > an xpander id in gen_ai.agent.id > the default > the name -> id map."""
    explicit = conv.string_attribute(root, semconv.XPANDER_AGENT_ID)
    if explicit:
        return explicit
    genai_id = root.attributes.get(semconv.AGENT_ID)
    if conv.looks_like_xpander_id(genai_id):
        return genai_id
    if settings.default_agent_id:
        return settings.default_agent_id
    return settings.agent_map.get(name) if name else None
