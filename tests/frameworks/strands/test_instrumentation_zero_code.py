"""Zero-code: ``opentelemetry-instrument`` loads the ``xpander_strands`` entry point on an unmodified script."""

from __future__ import annotations

from _zero_code import run_under_opentelemetry_instrument

from xpander_otel.devserver.scripted_llm import FINAL_ANSWER

SCRIPT = """
import sys
from strands import Agent, tool
from strands.models.openai import OpenAIModel

@tool
def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    return "sunny"

model = OpenAIModel(client_args={"api_key": "sk-test", "base_url": sys.argv[1]}, model_id="scripted-weather")
agent = Agent(model=model, tools=[get_weather], name="weather", callback_handler=None)
print("RESULT", str(agent("weather?")).strip())
"""


def test_zero_code_with_opentelemetry_instrument(llm, tmp_path):
    stdout, spans = run_under_opentelemetry_instrument(SCRIPT, llm, tmp_path)

    assert f"RESULT {FINAL_ANSWER}" in stdout
    assert sorted(s["name"] for s in spans) == ["chat scripted-weather", "chat scripted-weather", "execute_event_loop_cycle", "execute_event_loop_cycle",
                     "execute_tool get_weather", "invoke_agent weather"]
    assert {s["kind"] for s in spans if s["name"] == "chat scripted-weather"} == {"SpanKind.CLIENT"}
