# Run: OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none opentelemetry-instrument python examples/modes/collector_otlp.py
"""Collector pipelines: a service that only speaks OTLP; the bridge turns its agent runs into tasks.

This stands for a service in any language: it knows nothing of xpander and sends its GenAI spans as OTLP
(here to the bridge directly; an OpenTelemetry Collector in front works the same, see collector-config/).
First start the dev server (`xpander-otel serve`) and the bridge, which reports to it:

    XPANDER_BASE_URL=http://127.0.0.1:8765 XPANDER_AGENT_ID=weather-agent xpander-otel bridge --grpc-port 0

The bridge waits a few seconds (--grace-seconds) for late spans, then the task appears in the dev server.
"""

from opentelemetry import trace

tracer = trace.get_tracer("weather-service")
QUESTION = "What is the weather in Paris right now?"

# One agent run, as any GenAI-instrumented service would trace it: two LLM calls and one tool call.
with tracer.start_as_current_span("invoke_agent weather", attributes={
    "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather", "xpander.task.input": QUESTION,
}) as run:
    with tracer.start_as_current_span("chat scripted-weather", kind=trace.SpanKind.CLIENT, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "scripted-weather",
        "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 10,
        "gen_ai.response.finish_reasons": ["tool_calls"]}):
        pass
    with tracer.start_as_current_span("execute_tool get_weather", attributes={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"}):
        pass
    with tracer.start_as_current_span("chat scripted-weather", kind=trace.SpanKind.CLIENT, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "scripted-weather",
        "gen_ai.usage.input_tokens": 80, "gen_ai.usage.output_tokens": 12,
        "gen_ai.response.finish_reasons": ["stop"]}):
        pass
    answer = "It is sunny in Paris, 22 degrees."
    run.set_attribute("xpander.task.result", answer)

print(answer)
# At exit the SDK flushes the OTLP exporter.
