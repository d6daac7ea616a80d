"""An app that calls xpander_otel.configure() and is also run with OTEL_TRACES_EXPORTER=xpander."""

from opentelemetry import trace

import xpander_otel

telemetry = xpander_otel.configure()
assert xpander_otel.configure() is telemetry
tracer = trace.get_tracer("app")
with tracer.start_as_current_span("invoke_agent weather", attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather"}):
    pass
print("ok", flush=True)
