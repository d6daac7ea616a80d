"""The Backend guide's @on_task example with Agno, instrumented; run as a script by the tests.

Every ended span is appended to the JSON-lines file named by ``SPANS_FILE`` (name, kind, parent,
trace, attributes), so the test can check the span tree of the run from outside the process.
"""

import json
import os

from agno.agent import Agent
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from xpander_otel import Backend, Task, on_task
from xpander_otel.instrumentation.agno import AgnoInstrumentor


class SpansToFile(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        record = {"name": span.name, "trace_id": format(span.context.trace_id, "032x"),
                  "span_id": format(span.context.span_id, "016x"),
                  "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                  "attributes": {k: v if isinstance(v, (str, int, float, bool)) else list(v)
                                 for k, v in (span.attributes or {}).items()}}
        with open(os.environ["SPANS_FILE"], "a") as out:
            out.write(json.dumps(record) + "\n")


provider = TracerProvider()
provider.add_span_processor(SpansToFile())
trace.set_tracer_provider(provider)
AgnoInstrumentor().instrument()
if os.environ.get("WITH_EXPORTER"):
    import xpander_otel

    xpander_otel.configure(instrument=False)  # the span exporter on the same provider


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"sunny in {city}, 22 degrees"


@on_task
async def handle_agent_task(task: Task) -> Task:
    backend = Backend(task.configuration)
    agno_args = await backend.aget_args(agent_id=task.agent_id, agent_version=task.agent_version, task=task,
                                        tools=[get_weather])
    agno_agent = Agent(**agno_args)
    result = await agno_agent.arun(input=task.to_message())
    task.result = result.content
    return task
