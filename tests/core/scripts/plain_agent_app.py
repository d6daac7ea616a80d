"""An application that knows nothing of xpander: it makes GenAI agent spans with the OpenTelemetry API.

Run it as ``OTEL_TRACES_EXPORTER=xpander opentelemetry-instrument python plain_agent_app.py``.
It prints the ids of its agent span so the test can compute the expected task id.
"""

import json
import sys
import time

from opentelemetry import trace

tracer = trace.get_tracer("plain-agent-app")

with tracer.start_as_current_span("invoke_agent weather", attributes={
    "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather",
    "xpander.task.input": "Weather in Paris?",
}) as run:
    with tracer.start_as_current_span("chat gpt-4.1", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1",
        "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 10,
        "gen_ai.response.finish_reasons": ["tool_calls"],
    }):
        pass
    with tracer.start_as_current_span("execute_tool get_weather", attributes={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
    }):
        pass
    with tracer.start_as_current_span("chat gpt-4.1", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1",
        "gen_ai.response.model": "gpt-4.1-2025", "gen_ai.usage.input_tokens": 80,
        "gen_ai.usage.output_tokens": 12, "gen_ai.response.finish_reasons": ["stop"],
    }):
        pass
    run.set_attribute("xpander.task.result", "It is sunny in Paris, 22 degrees.")

context = run.get_span_context()
print(json.dumps({"trace_id": context.trace_id, "span_id": context.span_id}), flush=True)
if len(sys.argv) > 1:  # keep working for a while after the run (the test watches the report arrive)
    time.sleep(float(sys.argv[1]))
