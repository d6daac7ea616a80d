"""The pydantic_ai instrumentor is registered for zero-code use (group ``opentelemetry_instrumentor``)."""

from importlib.metadata import entry_points

from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor


def test_entry_point_loads_the_instrumentor_and_its_dependencies_are_met():
    (entry,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "xpander_pydantic_ai"]
    instrumentor_class = entry.load()
    assert issubclass(instrumentor_class, BaseInstrumentor)
    # What ``opentelemetry-instrument`` checks before it instruments: the installed release is supported.
    assert get_dependency_conflicts(list(instrumentor_class().instrumentation_dependencies())) is None
