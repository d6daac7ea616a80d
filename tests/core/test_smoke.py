import httpx


def test_scripted_llm_answers_tool_call_then_final(llm):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    first = httpx.post(f"{llm.base_url}/chat/completions", json={
        "model": "gpt-4.1", "messages": [{"role": "user", "content": "weather?"}], "tools": tools}).json()
    call = first["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert first["usage"]["prompt_tokens"] == 50
