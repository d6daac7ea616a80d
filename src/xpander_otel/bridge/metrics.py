"""The bridge's counters and gauges, rendered in the Prometheus text exposition format (0.0.4)."""

from __future__ import annotations

import threading
from collections.abc import Callable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Thread-safe counters plus gauges read on demand.

    >>> metrics = Metrics()
    >>> metrics.count("spans_received", 3)
    >>> "xpander_bridge_spans_received_total 3" in metrics.render()
    True
    """

    COUNTERS = {
        "spans_received": "Spans accepted from OTLP requests.",
        "spans_rejected": "Spans refused (invalid ids), reported back in partial_success.",
        "requests_refused_busy": "Requests answered 503/UNAVAILABLE because the queue was full.",
        "reports_assembled": "Task reports produced by the assembler and spooled (new and updated).",
        "reports_unaddressed": "Task reports dropped because no xpander agent id was known.",
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(self.COUNTERS, 0)
        self._gauges: dict[str, tuple[str, Callable[[], float], bool]] = {}

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def value(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def gauge(self, name: str, help_text: str, read: Callable[[], float], *, counter: bool = False) -> None:
        """A value read when scraped; ``counter`` renders it as a ``_total`` counter kept elsewhere."""
        self._gauges[name] = (help_text, read, counter)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = dict(self._counters)
        for name, value in counters.items():
            _emit(lines, f"{name}_total", "counter", self.COUNTERS[name], value)
        for name, (help_text, read, counter) in self._gauges.items():
            try:
                value = read()
            except Exception:  # a gauge that cannot be read is left out, the scrape still works
                continue
            _emit(lines, f"{name}_total" if counter else name, "counter" if counter else "gauge", help_text, value)
        return "\n".join(lines) + "\n"


def _emit(lines: list[str], name: str, kind: str, help_text: str, value: float) -> None:
    full = f"xpander_bridge_{name}"
    lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}", f"{full} {_number(value)}"]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
