"""Zero-code: ``opentelemetry-instrument`` loads the ``xpander_langchain`` entry point on an unmodified script."""

from __future__ import annotations

from _zero_code import run_under_opentelemetry_instrument

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


def test_zero_code_with_opentelemetry_instrument(llm, tmp_path):
    stdout, spans = run_under_opentelemetry_instrument(SCRIPT, llm, tmp_path)

    assert f"RESULT {FINAL_ANSWER}" in stdout
    assert sorted(s["name"] for s in spans) == ["chat scripted-weather", "chat scripted-weather", "execute_tool get_weather", "invoke_agent weather"]
    assert {s["kind"] for s in spans if s["name"] == "chat scripted-weather"} == {"SpanKind.CLIENT"}
