"""Child process of the configure() tests (configure() sets the global TracerProvider, once per process)."""

import json
import sys

from fakeinstr import Present
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import xpander_otel

url, spool, mode = sys.argv[1:4]
if mode == "existing":
    trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": "user-svc"})))
configuration = xpander_otel.Configuration(api_key="xpk-test-0123456789", base_url=url)
first = xpander_otel.configure(agent_id="agent-cfg", configuration=configuration, spool_path=spool,
                               service_name="svc" if mode == "fresh" else None)
second = xpander_otel.configure()
provider = trace.get_tracer_provider()
out = {
    "same_handle": first is second,
    "global_is_ours": provider is first.tracer_provider,
    "service": provider.resource.attributes.get("service.name"),
    "instrumented": first.instrumented,
    "instrumentor_got_provider": Present.provider is provider,
}
tracer = trace.get_tracer("app")
with tracer.start_as_current_span("invoke_agent weather", attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather"}), \
        tracer.start_as_current_span("chat gpt-4.1", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3}):
    pass
out["flushed"] = first.force_flush(10_000)
first.shutdown()
out["uninstrumented"] = Present.provider is None
third = xpander_otel.configure(configuration=configuration, spool_path=spool, instrument=False)
out["fresh_after_shutdown"] = third is not first
third.shutdown()
print(json.dumps(out))
