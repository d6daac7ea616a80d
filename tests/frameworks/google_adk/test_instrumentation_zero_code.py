"""Zero-code: ``opentelemetry-instrument`` loads the ``xpander_google_adk`` entry point on an unmodified script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def _console_spans(stdout: str) -> list[dict]:
    decoder, spans = json.JSONDecoder(), []
    position = stdout.find("{")
    while position != -1:
        span, end = decoder.raw_decode(stdout, position)
        spans.append(span)
        position = stdout.find("{", end)
    return spans


def test_zero_code_with_opentelemetry_instrument(llm, tmp_path):
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": "zero-code", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    command = [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, str(script),
               llm.base_url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=True)

    assert f"RESULT {FINAL_ANSWER}" in done.stdout
    spans = _console_spans(done.stdout)
    assert sorted(s["name"] for s in spans) == ["execute_tool get_weather", "generate_content openai/scripted-weather",
                     "generate_content openai/scripted-weather", "invoke_agent weather", "invoke_workflow weather"]
    assert {s["kind"] for s in spans if s["name"] == "generate_content openai/scripted-weather"} == {"SpanKind.CLIENT"}
