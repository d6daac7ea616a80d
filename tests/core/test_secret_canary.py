"""Canary: distinctive fake keys go through every public call and must show up nowhere."""

from __future__ import annotations

import asyncio
import logging

import pytest

from _servers import Reply
from xpander_otel import Backend, Configuration, ModuleException, Tokens

XPANDER_KEY = "CANARY-xpander-7f3a9c1e"
CUSTOM_KEY = "CANARY-custom-llm-2b8d4e6f"
ENV_KEY = "CANARY-env-llm-5c1a7e9b"
CANARIES = (XPANDER_KEY, CUSTOM_KEY, ENV_KEY)

AGENT = {
    "id": "agent-c",
    "name": "Canary",
    "framework": "neutral",
    "model_provider": "openai",
    "model_name": "gpt-4.1",
    "llm_credentials": {"name": "mine", "value": CUSTOM_KEY},
}


def _assert_clean(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} leaked into {where}"


def test_no_key_leaks_anywhere(monkeypatch, recorder, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    recorder.reply("GET", "/agents/agent-c", Reply(200, AGENT))
    # An error body that echoes the key back, as a careless gateway might.
    recorder.reply("POST", "/agent-execution/agent-bad/report_task",
                   Reply(401, f"invalid key {XPANDER_KEY}".encode()))

    config = Configuration(api_key=XPANDER_KEY, base_url=recorder.url)
    backend = Backend(config)
    texts = [repr(config), str(config), repr(backend), repr(config.model_dump())]

    args = backend.get_args(agent_id="agent-c")
    assert args["api_key"].get_secret_value() == ENV_KEY  # local: the environment wins
    texts += [repr(args), str(args), repr(backend.get_agent("agent-c"))]

    args = asyncio.run(backend.aget_args(agent_id="agent-c"))
    texts.append(repr(args))

    task = backend.report_external_task(agent_id="agent-c", input="hi", result="ok", tokens=Tokens(prompt_tokens=1))
    texts.append(repr(task))
    task = asyncio.run(backend.areport_external_task(agent_id="agent-c", result="ok"))
    texts.append(repr(task))

    with pytest.raises(ModuleException) as caught:
        backend.report_external_task(agent_id="agent-bad", result="x")
    texts += [str(caught.value), repr(caught.value), caught.value.description]
    assert caught.value.status_code == 401

    logging.getLogger("xpander_otel.client").warning("resolved %s", args["api_key"].get_secret_value())

    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    texts += [record.getMessage() for record in caplog.records]
    for i, text in enumerate(texts):
        _assert_clean(text, f"text #{i}")
    # The key did reach the wire where it belongs.
    assert recorder.requests[0].headers["x-api-key"] == XPANDER_KEY
