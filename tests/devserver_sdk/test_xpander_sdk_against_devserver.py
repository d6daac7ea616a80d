"""The real xpander-sdk, unchanged, as a client of the dev server: agents, task reports, task reads."""

from __future__ import annotations

import pytest
from xpander_sdk import AgentExecutionStatus, Agents, Configuration, Task, Tasks, Tokens

from _devserver import DevServerProcess

KEY = "sdk-test-key-0001"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with DevServerProcess(tmp_path_factory.mktemp("sdk") / "tasks.sqlite3", "--api-key", KEY) as running:
        yield running


@pytest.fixture(params=["inbound", "agent-controller"])
def sdk_config(request, server) -> Configuration:
    """Both URL styles the SDK knows: plain, and agent-controller (the SDK appends /{organization_id})."""
    if request.param == "inbound":
        return Configuration(api_key=KEY, base_url=server.url, organization_id="local")
    return Configuration(api_key=KEY, base_url=f"{server.url}/agent-controller", organization_id="acme")


def test_sdk_lists_and_loads_agents_with_versions(server, sdk_config):
    agent_id = f"sdk-agent-{sdk_config.organization_id}"
    server.create_agent("SDK Agent", api_key=KEY, id=agent_id, model_name="gpt-4.1", framework="open-ai-agents")
    server.create_agent("SDK Agent", api_key=KEY, id=agent_id, model_name="gpt-5", framework="open-ai-agents")

    listed = {a.id: a for a in Agents(configuration=sdk_config).list()}
    assert listed[agent_id].name == "SDK Agent"
    assert listed[agent_id].organization_id == "local"
    assert listed["weather-agent"].name == "Weather Agent"

    latest = Agents(configuration=sdk_config).get(agent_id=agent_id)
    assert (latest.id, latest.name, latest.unique_name, latest.model_name, latest.version) == (
        agent_id, "SDK Agent", "sdk-agent", "gpt-5", 2)
    assert latest.framework.value == "open-ai-agents"
    first = Agents(configuration=sdk_config).get(agent_id=agent_id, version=1)
    assert (first.model_name, first.version) == ("gpt-4.1", 1)

    weather = Agents(configuration=sdk_config).get(agent_id="weather-agent")
    assert weather.llm_api_base == f"{server.url}/v1"
    assert weather.instructions.general == "Use the get_weather tool; never guess."


def test_sdk_reports_a_task_and_reads_it_back(server, sdk_config):
    task_id = f"sdk-task-{sdk_config.organization_id}"
    reported = Task.report_external_task(
        configuration=sdk_config, agent_id="weather-agent", id=task_id, input="Weather in Rome?",
        llm_response={"model": "scripted-weather"}, tokens=Tokens(prompt_tokens=130, completion_tokens=22),
        is_success=True, result="Sunny in Rome.", duration=1.5, used_tools=["get_weather"],
    )
    assert (reported.id, reported.agent_id, reported.status) == (task_id, "weather-agent", AgentExecutionStatus.Completed)
    assert reported.input.text == "Weather in Rome?"
    assert reported.result == "Sunny in Rome."
    assert (reported.tokens.prompt_tokens, reported.tokens.completion_tokens) == (130, 22)
    assert reported.used_tools == ["get_weather"]

    # Re-reporting the same id updates it.
    Task.report_external_task(configuration=sdk_config, agent_id="weather-agent", id=task_id,
                              input="Weather in Rome?", result="Rain in Rome.", is_success=False)
    loaded = Task.load(task_id=task_id, configuration=sdk_config)
    assert (loaded.id, loaded.status, loaded.result) == (task_id, AgentExecutionStatus.Failed, "Rain in Rome.")

    listed = Tasks(configuration=sdk_config).list(agent_id="weather-agent")
    assert [t.id for t in listed if t.id == task_id] == [task_id]
    [item] = [t for t in listed if t.id == task_id]
    assert (item.agent_id, item.organization_id, item.status, item.result) == (
        "weather-agent", "local", AgentExecutionStatus.Failed, "Rain in Rome.")


def test_sdk_sees_4xx_as_module_exception(server, sdk_config):
    from xpander_sdk import ModuleException

    with pytest.raises(ModuleException) as raised:
        Agents(configuration=sdk_config).get(agent_id="no-such-agent")
    assert raised.value.status_code == 404
    wrong_key = sdk_config.model_copy(update={"api_key": "wrong"})
    with pytest.raises(ModuleException) as denied:
        Task.report_external_task(configuration=wrong_key, agent_id="weather-agent", result="x")
    assert denied.value.status_code == 401
