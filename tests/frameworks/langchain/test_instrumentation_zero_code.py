"""Zero-code: ``opentelemetry-instrument`` loads the ``xpander_langchain`` entry point on an unmodified script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from xpander_otel.devserver.scripted_llm import FINAL_ANSWER

SCRIPT = """
import sys
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

@tool
def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    return "sunny"

model = ChatOpenAI(model="scripted-weather", base_url=sys.argv[1], api_key="sk-test", stream_usage=True)
agent = create_agent(model, tools=[get_weather], name="weather")
state = agent.invoke({"messages": [{"role": "user", "content": "weather?"}]})
print("RESULT", state["messages"][-1].content)
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
    assert sorted(s["name"] for s in spans) == ["chat scripted-weather", "chat scripted-weather", "execute_tool get_weather", "invoke_agent weather"]
    assert {s["kind"] for s in spans if s["name"] == "chat scripted-weather"} == {"SpanKind.CLIENT"}
