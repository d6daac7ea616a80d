"""The grace window: spans of a trace are held until ``grace_s`` after its task root arrived.

OTLP spans of one trace come in several requests and in any order (the root often first: it is
exported when it ends, its children may still sit in another process's batch). Like the Collector's
``groupbytrace`` processor, the bridge waits a little before it assembles, so the first report is
complete; spans arriving after that pass straight through and update the task under the same id.

Pure and single-threaded: time arrives as ``now`` (seconds, monotonic).
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar


class _HasTraceId(Protocol):
    @property
    def trace_id(self) -> int: ...


R = TypeVar("R", bound=_HasTraceId)


class _Held(Generic[R]):
    __slots__ = ("deadline", "first_seen", "order", "spans")

    def __init__(self, now: float, order: int) -> None:
        self.spans: list[R] = []
        self.first_seen = now
        self.order = order  # arrival order, so that traces due together are released oldest first
        self.deadline: float | None = None


class GraceWindow(Generic[R]):
    """Holds spans per trace; releases a trace ``grace_s`` after an anchor span (a task root) arrived.

    ``is_anchor`` says which spans start the window (agent spans and local roots). A trace without one
    is released after ``max_hold_s`` anyway: the assembler decides what it is. Released traces are
    remembered (up to ``remember``) so that their late spans pass through without waiting again.

    >>> window = GraceWindow(grace_s=2.0, max_hold_s=30.0, is_anchor=lambda span: True)
    >>> window.add([span], now=0.0), window.expire(now=2.0)   # doctest: +SKIP
    ([], [span])
    """

    def __init__(self, grace_s: float, max_hold_s: float, is_anchor: Callable[[R], bool],
                 remember: int = 100_000) -> None:
        self.grace_s = grace_s
        self.max_hold_s = max(max_hold_s, grace_s)
        self._is_anchor = is_anchor
        self._held: OrderedDict[int, _Held[R]] = OrderedDict()  # in arrival order
        # (deadline, trace id) of held traces whose anchor arrived: expire() looks only at those due,
        # not at every held trace (tens of thousands at a high span rate).
        self._deadlines: list[tuple[float, int]] = []
        self._arrivals = itertools.count()
        self._released: OrderedDict[int, None] = OrderedDict()
        self._remember = remember
        self.held_spans = 0

    @property
    def open_traces(self) -> int:
        return len(self._held)

    def add(self, records: Iterable[R], now: float) -> list[R]:
        """Hold new spans; return those of traces already released (they go on at once)."""
        passing: list[R] = []
        for record in records:
            trace_id = record.trace_id
            if trace_id in self._released:
                passing.append(record)
                continue
            held = self._held.get(trace_id)
            if held is None:
                held = self._held[trace_id] = _Held(now, next(self._arrivals))
            held.spans.append(record)
            self.held_spans += 1
            if held.deadline is None and self._is_anchor(record):
                held.deadline = now + self.grace_s
                heapq.heappush(self._deadlines, (held.deadline, trace_id))
        if self.grace_s <= 0:
            passing.extend(self.expire(now))
        return passing

    def expire(self, now: float) -> list[R]:
        """The spans of every trace whose window is over, oldest trace first."""
        due: dict[int, _Held[R]] = {}
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            deadline, trace_id = heapq.heappop(deadlines)
            held = self._held.get(trace_id)
            if held is not None and held.deadline == deadline:  # else released already (max_hold_s, flush)
                due[trace_id] = held
        for trace_id, held in self._held.items():  # arrival order: the first one still young ends the scan
            if now - held.first_seen < self.max_hold_s:
                break
            due[trace_id] = held
        return self._release(sorted(due, key=lambda trace_id: due[trace_id].order))

    def flush(self) -> list[R]:
        """Release everything (shutdown: nothing more will arrive)."""
        self._deadlines.clear()
        return self._release(list(self._held))

    def _release(self, trace_ids: list[int]) -> list[R]:
        out: list[R] = []
        for trace_id in trace_ids:
            held = self._held.pop(trace_id)
            self.held_spans -= len(held.spans)
            out.extend(held.spans)
            self._released[trace_id] = None
        while len(self._released) > self._remember:
            self._released.popitem(last=False)
        return out
