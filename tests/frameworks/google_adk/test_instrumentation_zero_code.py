"""Zero-code: ``opentelemetry-instrument`` loads the ``xpander_google_adk`` entry point on an unmodified script."""

from __future__ import annotations

from _zero_code import run_under_opentelemetry_instrument

from xpander_otel.devserver.scripted_llm import FINAL_ANSWER

SCRIPT = """
import sys
import asyncio

from google.adk.agents import LlmAgent
from google.adk.models.lite_llm import LiteLlm
from google.adk.runners import InMemoryRunner
from google.genai import types

def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    return "sunny"

model = LiteLlm(model="openai/scripted-weather", api_base=sys.argv[1], api_key="sk-test")
runner = InMemoryRunner(agent=LlmAgent(name="weather", model=model, tools=[get_weather]), app_name="weather")
session = asyncio.run(runner.session_service.create_session(app_name="weather", user_id="u"))
message = types.Content(role="user", parts=[types.Part(text="weather?")])
events = list(runner.run(user_id="u", session_id=session.id, new_message=message))
print("RESULT", events[-1].content.parts[0].text)
"""


def test_zero_code_with_opentelemetry_instrument(llm, tmp_path):
    stdout, spans = run_under_opentelemetry_instrument(SCRIPT, llm, tmp_path, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})

    assert f"RESULT {FINAL_ANSWER}" in stdout
    assert sorted(s["name"] for s in spans) == ["execute_tool get_weather", "generate_content openai/scripted-weather",
                     "generate_content openai/scripted-weather", "invoke_agent weather", "invoke_workflow weather"]
    assert {s["kind"] for s in spans if s["name"] == "generate_content openai/scripted-weather"} == {"SpanKind.CLIENT"}
