# Run: XPANDER_BASE_URL=http://127.0.0.1:8765 XPANDER_AGENT_ID=weather-agent python examples/modes/manual_spans.py
"""Your own agent loop, no framework: `configure()` once, then GenAI spans around the run, each LLM call
and each tool call. The span exporter turns the run into one xpander task.

`get_args(framework="neutral")` gives the agent's model, endpoint, key and instructions as plain values.
Start the dev server first (`xpander-otel serve`): its scripted LLM answers the agent's model offline.
"""

import json

import httpx
from opentelemetry import trace

import xpander_otel
from xpander_otel import Backend

QUESTION = "What is the weather in Paris right now?"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def get_weather(city: str) -> str:
    return f"Sunny in {city}, 22 degrees Celsius."


telemetry = xpander_otel.configure()
tracer = trace.get_tracer("my-agent")
args = Backend().get_args(framework="neutral")
llm = httpx.Client(base_url=args["api_base"], timeout=30, headers={
    "Authorization": f"Bearer {args['api_key'].get_secret_value()}", **args["extra_headers"]})
messages = [{"role": "system", "content": str(args["instructions"])}, {"role": "user", "content": QUESTION}]

with tracer.start_as_current_span(f"invoke_agent {args['name']}", attributes={
    "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": args["name"],
    "xpander.agent.id": args["agent_id"], "xpander.task.input": QUESTION,
}) as run:
    while True:
        with tracer.start_as_current_span(f"chat {args['model_name']}", kind=trace.SpanKind.CLIENT) as chat:
            body = llm.post("/chat/completions", json={"model": args["model_name"], "messages": messages,
                                                       "tools": [WEATHER_TOOL]}).json()
            choice = body["choices"][0]
            chat.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.request.model": args["model_name"],
                "gen_ai.response.model": body["model"], "gen_ai.response.finish_reasons": [choice["finish_reason"]],
                "gen_ai.usage.input_tokens": body["usage"]["prompt_tokens"],
                "gen_ai.usage.output_tokens": body["usage"]["completion_tokens"]})
        messages.append(choice["message"])
        if not choice["message"].get("tool_calls"):
            break
        for call in choice["message"]["tool_calls"]:
            with tracer.start_as_current_span("execute_tool get_weather", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call["function"]["name"],
                "gen_ai.tool.call.id": call["id"]}):
                result = get_weather(**json.loads(call["function"]["arguments"]))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    answer = choice["message"]["content"]
    run.set_attribute("xpander.task.result", answer)

print(answer)
telemetry.shutdown()  # deliver the task report before the script ends
