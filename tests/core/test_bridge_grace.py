"""The grace window: hold a trace's spans until grace_s after its anchor (task root) arrived."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from xpander_otel.bridge.grace import GraceWindow
from xpander_otel.bridge.metrics import Metrics


@dataclass(frozen=True)
class Span:
    trace_id: int
    name: str
    anchor: bool = False


def window(grace_s: float = 2.0, max_hold_s: float = 30.0) -> GraceWindow:
    return GraceWindow(grace_s=grace_s, max_hold_s=max_hold_s, is_anchor=lambda span: span.anchor)


def test_trace_is_released_grace_after_its_anchor_arrived_with_every_span_held_so_far():
    w = window()
    child = Span(1, "chat")
    root = Span(1, "invoke_agent", anchor=True)
    assert w.add([child], now=0.0) == []
    assert w.add([root], now=5.0) == []
    assert w.expire(now=6.9) == []
    late_child = Span(1, "execute_tool")
    assert w.add([late_child], now=6.95) == []
    assert w.expire(now=7.0) == [child, root, late_child]
    assert (w.open_traces, w.held_spans) == (0, 0)


def test_spans_after_the_release_pass_straight_through():
    w = window()
    w.add([Span(1, "root", anchor=True)], now=0.0)
    w.expire(now=2.0)
    straggler = Span(1, "chat")
    assert w.add([straggler], now=3.0) == [straggler]
    assert w.open_traces == 0


def test_traces_are_independent_and_a_trace_without_anchor_waits_max_hold():
    w = window(grace_s=1.0, max_hold_s=10.0)
    a, b, c = Span(1, "a", anchor=True), Span(2, "b"), Span(3, "c", anchor=True)
    w.add([a, b], now=0.0)
    w.add([c], now=0.5)
    assert w.expire(now=1.0) == [a]
    assert w.expire(now=1.5) == [c]
    assert w.expire(now=9.9) == []
    assert w.expire(now=10.0) == [b]


def test_zero_grace_releases_at_once_and_flush_releases_everything():
    assert window(grace_s=0).add([Span(1, "r", anchor=True)], now=0.0) == [Span(1, "r", anchor=True)]
    w = window()
    w.add([Span(1, "x"), Span(2, "y", anchor=True)], now=0.0)
    assert w.flush() == [Span(1, "x"), Span(2, "y", anchor=True)]
    assert w.held_spans == 0


def test_released_trace_memory_is_bounded():
    w = GraceWindow(grace_s=0, max_hold_s=0, is_anchor=lambda s: True, remember=2)
    for trace_id in range(5):
        w.add([Span(trace_id, "r")], now=0.0)
    assert list(w._released) == [3, 4]


class CountingDict(OrderedDict):
    """Counts the held traces ``expire`` looks at."""

    visited = 0

    def items(self):
        for item in super().items():
            self.visited += 1
            yield item


def test_expire_looks_only_at_traces_that_are_due():
    w = window(grace_s=1.0, max_hold_s=30.0)
    w._held = CountingDict()
    w.add([Span(n, "waiting") for n in range(1_000)], now=0.0)
    root = Span(1_000, "root", anchor=True)
    w.add([root], now=0.5)
    assert w.expire(now=1.5) == [root]
    assert w._held.visited <= 1  # the oldest held trace, not all 1,000
    assert w.held_spans == 1_000


def test_traces_due_together_come_out_in_arrival_order():
    w = window(grace_s=1.0, max_hold_s=2.0)
    old_child, young_root, old_root = Span(1, "chat"), Span(2, "root", anchor=True), Span(1, "root", anchor=True)
    w.add([old_child], now=0.0)
    w.add([young_root], now=0.5)
    w.add([old_root], now=0.6)  # its deadline is later than the young trace's
    assert w.expire(now=3.0) == [old_child, old_root, young_root]


def test_a_trace_held_again_after_being_forgotten_keeps_no_old_deadline():
    w = GraceWindow(grace_s=1.0, max_hold_s=2.0, is_anchor=lambda span: span.anchor, remember=0)
    w.add([Span(1, "chat")], now=0.0)
    w.add([Span(1, "root", anchor=True)], now=1.5)  # deadline 2.5, but max_hold releases it at 2.0
    assert len(w.expire(now=2.0)) == 2
    late = Span(1, "late chat")
    w.add([late], now=2.1)  # forgotten (remember=0): held again, without an anchor
    assert w.expire(now=2.5) == []
    assert w.expire(now=4.2) == [late]


def test_metrics_render_prometheus_text():
    m = Metrics()
    m.count("spans_received", 7)
    m.count("spans_rejected")
    m.gauge("open_traces", "Traces held.", lambda: 3)
    m.gauge("reports_sent", "Reports delivered.", lambda: 2, counter=True)
    m.gauge("broken", "Cannot be read.", lambda: 1 / 0)
    text = m.render()
    assert "# TYPE xpander_bridge_spans_received_total counter\nxpander_bridge_spans_received_total 7\n" in text
    assert "xpander_bridge_spans_rejected_total 1\n" in text
    assert "# TYPE xpander_bridge_open_traces gauge\nxpander_bridge_open_traces 3\n" in text
    assert "# TYPE xpander_bridge_reports_sent_total counter\nxpander_bridge_reports_sent_total 2\n" in text
    assert "broken" not in text
