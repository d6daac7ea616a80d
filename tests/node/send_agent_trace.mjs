// A Node.js agent run as an instrumented app would trace it (GenAI semantic conventions), exported with
// @opentelemetry/exporter-trace-otlp-http (OTLP/HTTP JSON) to BRIDGE_URL. Prints the root span's ids and
// times as JSON so the test can compute the exact task report the bridge must send.
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

const exporter = new OTLPTraceExporter({
  url: `${process.env.BRIDGE_URL}/v1/traces`,
  headers: { authorization: `Bearer ${process.env.BRIDGE_TOKEN}` },
});
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "node-agent" }),
  spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 50 })],
});
const tracer = provider.getTracer("node-agent");
const fail = process.env.AGENT_FAILS === "1";

// Explicit times, a millisecond apart: spans made back to back can share a timestamp, and the task's last
// model call must be the second chat span, not whichever a tie picks.
const t0 = Date.now();
let step = 0;
const next = () => t0 + ++step;
const root = tracer.startSpan("invoke_agent weather", {
  kind: SpanKind.INTERNAL,
  startTime: t0,
  attributes: {
    "gen_ai.operation.name": "invoke_agent",
    "gen_ai.agent.name": "weather",
    "xpander.agent.id": "agent-123",
    "xpander.task.input": "Weather in Paris? (from Node)",
  },
});
const underRoot = trace.setSpan(context.active(), root);
const child = (name, attributes) =>
  tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes, startTime: next() }, underRoot).end(next());

child("chat gpt-4.1", {
  "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1",
  "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 10,
  "gen_ai.response.finish_reasons": ["tool_calls"],
});
child("execute_tool get_weather", { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather" });
child("chat gpt-4.1", {
  "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1", "gen_ai.response.model": "gpt-4.1-2025",
  "gen_ai.usage.input_tokens": 80, "gen_ai.usage.output_tokens": 12,
  "gen_ai.response.finish_reasons": ["stop"],
});
if (fail) {
  root.setStatus({ code: SpanStatusCode.ERROR, message: "Error: model unavailable" });
} else {
  root.setAttribute("xpander.task.result", "It is sunny in Paris, 22 degrees.");
}
root.end(next());

await provider.forceFlush();
await provider.shutdown();
const ns = ([seconds, nanos]) => (BigInt(seconds) * 1_000_000_000n + BigInt(nanos)).toString();
console.log(JSON.stringify({
  traceId: root.spanContext().traceId,
  spanId: root.spanContext().spanId,
  startNs: ns(root.startTime),
  endNs: ns(root.endTime),
}));
