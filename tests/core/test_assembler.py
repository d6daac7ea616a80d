"""The task report rules of DESIGN.md, one test per rule, on hand-built span trees."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from _exporter_support import agent, chat, record, tool

from xpander_otel import semconv
from xpander_otel.exporter.assembler import Assembler, AssemblerSettings, task_id_for
from xpander_otel.models import TaskReport

XPANDER_ID = "7d9f4c1e-3b2a-4c5d-8e6f-0a1b2c3d4e5f"


def assembler(**settings) -> Assembler:
    settings.setdefault("default_agent_id", "agent-default")
    return Assembler(AssemblerSettings(**settings))


def weather_tree(trace_id: int = 0xABC):
    root = agent(trace_id=trace_id, start=10.0, end=12.5, attrs={
        semconv.XPANDER_TASK_INPUT: "Weather in Paris?",
        semconv.XPANDER_TASK_RESULT: "It is sunny in Paris, 22 degrees."})
    first = chat(root, 50, 10, start=10.1, end=10.6)
    weather = tool(root, "get_weather", start=10.7, end=10.8)
    second = chat(root, 80, 12, start=10.9, end=12.4, attrs={
        semconv.RESPONSE_MODEL: "gpt-4.1-2025", semconv.RESPONSE_FINISH_REASONS: ("stop",)})
    return root, [first, weather, second]


def test_one_run_becomes_one_report_with_exact_fields():
    root, children = weather_tree()
    tasks = assembler().add([*children, root], now=0)
    assert len(tasks) == 1
    task = tasks[0]
    assert task.agent_id == "agent-default"
    assert task.report.to_wire() == {
        "id": str(uuid.uuid5(uuid.UUID("6f1c2d0e-6a55-5b0c-9d3e-7870616e6465"),
                             f"{0xABC:032x}/{root.span_id:016x}")),
        "input": "Weather in Paris?",
        "llm_response": {"model": "gpt-4.1-2025", "content": None, "finish_reason": "stop",
                         "usage": {"prompt_tokens": 80, "completion_tokens": 12, "total_tokens": 92},
                         "trace_id": f"{0xABC:032x}"},
        "tokens": {"completion_tokens": 22, "prompt_tokens": 130, "cache_read_tokens": 0,
                   "cache_write_tokens": 0, "total_tokens": 152},
        "is_success": True,
        "result": "It is sunny in Paris, 22 degrees.",
        "duration": 2.5,
        "used_tools": ["get_weather"],
    }


def test_task_id_is_deterministic_and_xpander_task_id_wins():
    root, children = weather_tree()
    assert assembler().add([*children, root], now=0)[0].report.id == task_id_for(0xABC, root.span_id)
    own = agent(trace_id=0xDEF, attrs={semconv.XPANDER_TASK_ID: "ext-job-9921"})
    assert assembler().add([own], now=0)[0].report.id == "ext-job-9921"


def test_used_tools_are_distinct_in_first_use_order_whatever_the_arrival_order():
    root = agent()
    spans = [tool(root, "search", start=0.5), tool(root, "get_weather", start=0.2),
             tool(root, "search", start=0.1), tool(root, "calculator", start=0.3)]
    task = assembler().add([*reversed(spans), root], now=0)[0]
    assert task.report.used_tools == ["search", "get_weather", "calculator"]


def test_late_spans_update_the_report_under_the_same_id():
    root, (first, weather, second) = weather_tree()
    a = assembler()
    early = a.add([first, root], now=0)
    assert [t.report.tokens.total_tokens for t in early] == [60]
    assert early[0].report.used_tools == []
    late = a.add([weather, second], now=1)
    assert len(late) == 1
    assert late[0].report.id == early[0].report.id
    assert late[0].report.tokens.total_tokens == 152
    assert late[0].report.used_tools == ["get_weather"]
    # The same spans again change nothing: no new report.
    assert a.add([weather, second], now=2) == []


def test_nested_agents_belong_to_the_outer_task():
    outer = agent(name="team", start=0, end=5)
    leader_call = chat(outer, 100, 20)
    as_tool = tool(outer, "ask_researcher", start=1)
    inner = agent(as_tool, name="researcher", start=1, end=3)
    inner_call = chat(inner, 40, 8)
    inner_tool = tool(inner, "web_search", start=2)
    a = assembler()
    # Children end first: the inner agent waits, its parent chain is still open.
    assert a.add([inner_call, inner_tool, inner], now=0) == []
    tasks = a.add([as_tool, leader_call, outer], now=1)
    assert len(tasks) == 1
    assert tasks[0].root_span_id == outer.span_id
    assert tasks[0].report.tokens.prompt_tokens == 140
    assert tasks[0].report.tokens.completion_tokens == 28
    assert tasks[0].report.used_tools == ["ask_researcher", "web_search"]
    assert tasks[0].agent_name == "team"


def test_several_top_level_runs_in_one_trace_give_one_report_each():
    main = record("main", start=0, end=10)
    first = agent(main, name="planner", start=1, end=2)
    second = agent(main, name="writer", start=3, end=4)
    a = assembler()
    spans = [chat(first, 10, 1), first, chat(second, 20, 2), second]
    assert a.add(spans, now=0) == []  # their parent "main" is still open: maybe it is an agent
    tasks = a.add([main], now=1)
    assert [(t.agent_name, t.report.tokens.total_tokens) for t in tasks] == [("planner", 11), ("writer", 22)]
    assert len({t.report.id for t in tasks}) == 2


def test_a_run_known_to_have_no_agent_above_is_reported_at_once():
    main = record("main", start=0, end=10)
    run = agent(main, agent_ancestor=False)
    tasks = assembler().add([chat(run, 5, 1), run], now=0)
    assert [t.report.tokens.total_tokens for t in tasks] == [6]


def test_a_waiting_run_is_reported_after_the_grace_period():
    main = record("main")
    run = agent(main)
    a = assembler(pending_grace_s=2.0)
    assert a.add([chat(run, 5, 1), run], now=100.0) == []
    assert a.expire(101.0) == []
    tasks = a.expire(102.5)
    assert [t.report.tokens.total_tokens for t in tasks] == [6]
    # When "main" finally arrives nothing changes: same body, no second report.
    assert a.add([main], now=103) == []


def test_a_run_known_to_sit_under_an_agent_waits_for_it_not_for_the_grace_period():
    outer = agent(name="team")
    inner = agent(outer, name="member", agent_ancestor=True)
    a = assembler(pending_grace_s=1.0)
    assert a.add([inner], now=0) == []
    assert a.expire(5.0) == []
    assert [t.agent_name for t in a.add([outer], now=6)] == ["team"]


def test_a_trace_without_agent_spans_is_dropped_when_its_root_ends():
    a = assembler()
    root = record("GET /health")
    assert a.add([record("db query", root), root], now=0) == []
    assert a.open_traces == 0


def test_a_run_under_a_remote_parent_is_a_task_root():
    run = agent(parent_id=0x1234, remote_parent=True)
    tasks = assembler().add([chat(run, 3, 4), run], now=0)
    assert [t.report.tokens.total_tokens for t in tasks] == [7]


def test_a_failed_run_reports_the_error_message():
    root = agent(error="RuntimeError: model unavailable", attrs={semconv.XPANDER_TASK_INPUT: "hi"})
    task = assembler().add([chat(root, 50, 0), root], now=0)[0]
    assert task.report.is_success is False
    assert task.report.result == "RuntimeError: model unavailable"
    assert task.report.tokens.prompt_tokens == 50


def test_a_failed_run_without_message_reports_its_error_type():
    root = agent(error="", attrs={"error.type": "TimeoutError"})
    assert assembler().add([root], now=0)[0].report.result == "TimeoutError"


def test_tokens_fall_back_to_the_roots_aggregate_without_llm_spans():
    root = agent(attrs={semconv.USAGE_INPUT_TOKENS: 300, semconv.USAGE_OUTPUT_TOKENS: 45})
    tokens = assembler().add([tool(root, "x"), root], now=0)[0].report.tokens
    assert (tokens.prompt_tokens, tokens.completion_tokens, tokens.total_tokens) == (300, 45, 345)


def test_llm_spans_win_over_the_roots_aggregate():
    root = agent(attrs={semconv.USAGE_INPUT_TOKENS: 300, semconv.USAGE_OUTPUT_TOKENS: 45})
    tokens = assembler().add([chat(root, 10, 2), root], now=0)[0].report.tokens
    assert (tokens.prompt_tokens, tokens.completion_tokens) == (10, 2)


def test_cache_tokens_are_summed_beside_the_total():
    root = agent()
    calls = [chat(root, 100, 10, attrs={semconv.USAGE_CACHE_READ_INPUT_TOKENS: 60,
                                        semconv.USAGE_CACHE_WRITE_INPUT_TOKENS: 5}),
             chat(root, 100, 10, attrs={semconv.USAGE_CACHE_READ_INPUT_TOKENS: 90})]
    tokens = assembler().add([*calls, root], now=0)[0].report.tokens
    assert tokens.model_dump() == {"completion_tokens": 20, "prompt_tokens": 200, "cache_read_tokens": 150,
                                   "cache_write_tokens": 5, "total_tokens": 220}


def test_two_libraries_instrumenting_the_same_call_count_its_tokens_once():
    root = agent()
    ours = chat(root, 50, 10)
    # OpenInference's LLM span of the same call, below ours: another family, ignored.
    openinference = record("ChatCompletion", ours, attrs={
        semconv.OI_SPAN_KIND: "LLM", semconv.OI_TOKEN_PROMPT: 50, semconv.OI_TOKEN_COMPLETION: 10})
    # A second GenAI chat span wrapping the same call (framework + client library): the leaf counts.
    wrapper = chat(root, 80, 12)
    client_call = chat(wrapper, 80, 12)
    tokens = assembler().add([openinference, ours, client_call, wrapper, root], now=0)[0].report.tokens
    assert (tokens.prompt_tokens, tokens.completion_tokens, tokens.total_tokens) == (130, 22, 152)


def test_openinference_run():
    root = record("Agent.run", attrs={semconv.OI_SPAN_KIND: "AGENT", semconv.OI_INPUT_VALUE: "Weather?",
                                      semconv.OI_OUTPUT_VALUE: "Sunny."})
    call = record("ChatCompletion", root, attrs={
        semconv.OI_SPAN_KIND: "LLM", semconv.OI_TOKEN_PROMPT: 50, semconv.OI_TOKEN_COMPLETION: 10,
        semconv.OI_TOKEN_CACHE_READ: 7, semconv.OI_MODEL_NAME: "gpt-4o", semconv.OI_OUTPUT_VALUE: "Sunny."})
    weather = record("get_weather", root, attrs={semconv.OI_SPAN_KIND: "TOOL", semconv.OI_TOOL_NAME: "get_weather"})
    report = assembler().add([call, weather, root], now=0)[0].report
    assert (report.input, report.result, report.used_tools) == ("Weather?", "Sunny.", ["get_weather"])
    assert report.tokens.model_dump() == {"completion_tokens": 10, "prompt_tokens": 50, "cache_read_tokens": 7,
                                          "cache_write_tokens": 0, "total_tokens": 60}
    assert report.llm_response["model"] == "gpt-4o"
    assert report.llm_response["content"] == "Sunny."


def test_openllmetry_run():
    root = record("weather.workflow", attrs={
        semconv.TRACELOOP_SPAN_KIND: "workflow", semconv.TRACELOOP_ENTITY_NAME: "weather",
        semconv.TRACELOOP_ENTITY_INPUT: '{"question": "Weather?"}', semconv.TRACELOOP_ENTITY_OUTPUT: '"Sunny"'})
    calls = [record("openai.chat", root, attrs={semconv.LLM_REQUEST_TYPE: "chat",
                                                semconv.LEGACY_USAGE_PROMPT_TOKENS: 50,
                                                semconv.LEGACY_USAGE_COMPLETION_TOKENS: 10}),
             # Newer OpenLLMetry writes the GenAI names, still without gen_ai.operation.name.
             record("openai.chat", root, attrs={semconv.LLM_REQUEST_TYPE: "chat",
                                                semconv.USAGE_INPUT_TOKENS: 80, semconv.USAGE_OUTPUT_TOKENS: 12})]
    weather = record("get_weather.tool", root, attrs={semconv.TRACELOOP_SPAN_KIND: "tool",
                                                      semconv.TRACELOOP_ENTITY_NAME: "get_weather"})
    task = assembler(default_agent_id=None, agent_map={"weather": "agent-w"}).add([*calls, weather, root], now=0)[0]
    assert task.agent_id == "agent-w"
    assert task.report.input == '{"question": "Weather?"}'
    assert task.report.result == '"Sunny"'
    assert task.report.used_tools == ["get_weather"]
    assert (task.report.tokens.prompt_tokens, task.report.tokens.completion_tokens) == (130, 22)


def test_pydantic_ai_run_uses_its_aggregated_usage_and_final_result():
    root = record("agent run", attrs={semconv.PYDANTIC_AGENT_NAME: "support", "model_name": "gpt-4o",
                                      semconv.PYDANTIC_FINAL_RESULT: "Done.",
                                      semconv.PYDANTIC_AGGREGATED_INPUT_TOKENS: 210,
                                      semconv.PYDANTIC_AGGREGATED_OUTPUT_TOKENS: 33})
    running_tool = record("running tool", root, attrs={semconv.TOOL_NAME: "lookup"})
    task = assembler(default_agent_id=None, agent_map={"support": "agent-s"}).add([running_tool, root], now=0)[0]
    assert task.agent_id == "agent-s"
    assert (task.report.result, task.report.used_tools) == ("Done.", ["lookup"])
    assert task.report.tokens.total_tokens == 243


def test_logfire_pending_spans_are_ignored():
    root = agent()
    pending = record("invoke_agent weather", root, attrs={semconv.LOGFIRE_SPAN_TYPE: "pending_span",
                                                           semconv.OPERATION_NAME: "invoke_agent"})
    tasks = assembler().add([pending, chat(root, 1, 1), root], now=0)
    assert [t.report.tokens.total_tokens for t in tasks] == [2]


def test_genai_messages_give_input_and_result_when_no_xpander_attributes():
    messages_in = json.dumps([{"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                              {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]}])
    messages_out = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}],
                                "finish_reason": "stop"}])
    root = agent(attrs={semconv.INPUT_MESSAGES: messages_in})
    call = chat(root, 1, 1, attrs={semconv.OUTPUT_MESSAGES: messages_out})
    report = assembler().add([call, root], now=0)[0].report
    assert (report.input, report.result, report.llm_response["content"]) == ("Weather?", "Sunny.", "Sunny.")


def test_agent_id_resolution_order():
    settings = {"default_agent_id": "agent-default", "agent_map": {"weather": "agent-mapped"}}
    explicit = agent(attrs={semconv.XPANDER_AGENT_ID: "agent-explicit", semconv.AGENT_ID: XPANDER_ID})
    genai = agent(trace_id=2, attrs={semconv.AGENT_ID: XPANDER_ID})
    framework_id = agent(trace_id=3, attrs={semconv.AGENT_ID: "asst_abc123"})
    assert assembler(**settings).add([explicit], now=0)[0].agent_id == "agent-explicit"
    assert assembler(**settings).add([genai], now=0)[0].agent_id == XPANDER_ID
    assert assembler(**settings).add([framework_id], now=0)[0].agent_id == "agent-default"
    mapped = assembler(default_agent_id=None, agent_map={"weather": "agent-mapped"})
    assert mapped.add([agent(trace_id=4)], now=0)[0].agent_id == "agent-mapped"
    nobody = assembler(default_agent_id=None).add([agent(trace_id=5)], now=0)[0]
    assert nobody.agent_id is None


def test_span_cap_keeps_agent_spans_and_marks_the_report_incomplete():
    root = agent(start=0, end=9)
    calls = [chat(root, 10, 1, start=i, end=i + 0.5) for i in range(5)]
    task = assembler(max_spans_per_trace=3).add([*calls, root], now=0)[0]
    assert task.incomplete is True
    assert task.report.llm_response["incomplete"] is True
    assert task.report.tokens.prompt_tokens == 30  # what arrived: three calls kept, two dropped


def test_a_trace_marked_incomplete_says_so_in_its_report():
    root, children = weather_tree()
    a = assembler()
    a.mark_incomplete(0xABC, now=0)
    task = a.add([*children, root], now=0)[0]
    assert task.incomplete is True
    assert task.report.llm_response["incomplete"] is True
    assert task.report.tokens.total_tokens == 152
    complete = assembler().add([agent(trace_id=9)], now=0)[0]
    assert "incomplete" not in complete.report.llm_response


def test_the_root_attribute_incomplete_is_honoured():
    root = agent(attrs={semconv.XPANDER_TASK_INCOMPLETE: True})
    assert assembler().add([root], now=0)[0].incomplete is True


def test_open_trace_cap_evicts_the_oldest_trace_reporting_its_waiting_run():
    a = assembler(max_open_traces=2)
    waiting = agent(record("main", trace_id=1), start=0, end=1)
    assert a.add([waiting], now=0) == []
    a.add([record("x", record("main", trace_id=2))], now=1)
    evicted = a.add([record("y", record("main", trace_id=3))], now=2)
    assert [(t.root_span_id, t.incomplete) for t in evicted] == [(waiting.span_id, True)]
    assert a.open_traces == 2


def test_idle_traces_are_forgotten_after_the_ttl():
    a = assembler(trace_ttl_s=60)
    root, children = weather_tree()
    a.add([*children, root], now=0)
    assert a.open_traces == 1  # kept for late spans
    assert a.expire(30) == []
    assert a.expire(61) == []
    assert a.open_traces == 0


def test_flush_reports_every_waiting_run():
    a = assembler()
    run = agent(record("main"))
    assert a.add([run], now=0) == []
    assert [t.root_span_id for t in a.flush()] == [run.span_id]


def test_an_agentless_request_ending_does_not_drop_another_requests_run_in_the_same_trace():
    # Two requests of one distributed trace reach this process (remote parents).
    health = record("GET /health", parent_id=0x77, remote_parent=True)
    ask = record("POST /ask", parent_id=0x77, remote_parent=True, start=0, end=3)
    run = agent(ask, start=1, end=2)
    a = assembler()
    assert a.add([chat(run, 10, 1), record("db", health), health], now=0) == []
    tasks = a.add([run, ask], now=1)
    assert [t.report.tokens.total_tokens for t in tasks] == [11]


def test_reported_traces_are_evicted_before_runs_still_in_flight():
    # Five runs in flight with room for three traces: the children of all five arrive first, so the two
    # oldest are evicted while open. Then the roots end in order. Each ending root's own (reported) trace
    # must be what makes room, not the next run's children: the eviction must not cascade.
    a = assembler(max_open_traces=3)
    runs = [weather_tree(trace_id=100 + n) for n in range(5)]
    assert a.add([c for _, children in runs for c in children], now=0) == []
    reports = [task for n, (root, _) in enumerate(runs) for task in a.add([root], now=1 + n)]
    assert [(t.trace_id, t.report.tokens.total_tokens, t.report.used_tools, t.incomplete) for t in reports] == [
        (100, 0, [], True), (101, 0, [], True),  # evicted while open: reported as incomplete
        (102, 152, ["get_weather"], False), (103, 152, ["get_weather"], False), (104, 152, ["get_weather"], False),
    ]
    assert a.open_traces <= 3


def test_a_run_whose_spans_were_evicted_while_open_is_reported_incomplete():
    a = assembler(max_open_traces=1)
    first_root, first_children = weather_tree(trace_id=201)
    _, second_children = weather_tree(trace_id=202)
    a.add(first_children, now=0)
    a.add(second_children, now=1)  # evicts trace 201 with its children still waiting for their root
    (late,) = a.add([first_root], now=2)
    assert (late.trace_id, late.incomplete, late.report.llm_response["incomplete"]) == (201, True, True)


def _wire_bodies_case(name: str):
    """Tasks of several shapes, each as the assembler builds its body."""
    if name == "full run":
        root, children = weather_tree()
        return assembler().add([*children, root], now=0)
    if name == "failed run":
        root = agent(error="RuntimeError: model unavailable", attrs={semconv.XPANDER_TASK_INPUT: "hi"})
        return assembler().add([chat(root, 50, 0), tool(root, "search"), root], now=0)
    if name == "failed run without message":
        root = agent(error="", attrs={"error.type": "TimeoutError"})
        return assembler().add([root], now=0)
    if name == "no llm spans":
        root = agent(attrs={semconv.USAGE_INPUT_TOKENS: 300, semconv.USAGE_OUTPUT_TOKENS: 45})
        return assembler().add([tool(root, "x"), root], now=0)
    if name == "no usage at all":
        return assembler().add([agent()], now=0)
    if name == "incomplete":
        a = assembler()
        a.mark_incomplete(0xABC, now=0)
        root = agent()
        return a.add([chat(root, 1, 2), root], now=0)
    if name == "cache tokens":
        root = agent()
        return assembler().add([chat(root, 100, 10, attrs={semconv.USAGE_CACHE_READ_INPUT_TOKENS: 60,
                                                          semconv.USAGE_CACHE_WRITE_INPUT_TOKENS: 5}), root], now=0)
    if name == "captured content and own task id":
        root = agent(attrs={semconv.XPANDER_TASK_ID: "ext-1", semconv.INPUT_MESSAGES: json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}])})
        call = chat(root, 5, 6, attrs={semconv.OUTPUT_MESSAGES: json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}])})
        return assembler().add([call, root], now=0)
    raise AssertionError(name)


@pytest.mark.parametrize("case", ["full run", "failed run", "failed run without message", "no llm spans",
                                  "no usage at all", "incomplete", "cache tokens",
                                  "captured content and own task id"])
def test_the_report_body_is_exactly_the_wire_form_of_its_task_report(case):
    [task] = _wire_bodies_case(case)
    wire = TaskReport.model_validate(task.body).to_wire()
    assert task.body == wire
    assert json.dumps(task.body) == json.dumps(wire)  # the same key order too, nested ones included
    assert task.report.to_wire() == wire


def test_task_ids_are_uuid5_of_trace_and_root_span():
    namespace = uuid.UUID("6f1c2d0e-6a55-5b0c-9d3e-7870616e6465")
    rng = random.Random(7)  # enough ids for every hex digit under the version and variant bits
    pairs = [(rng.getrandbits(128), rng.getrandbits(64)) for _ in range(500)]
    for trace_id, span_id in [(1, 1), (0xABC, 0xDEF), (2**128 - 1, 2**64 - 1), (0x0AF7651916CD43DD8448EB211C80319C,
                                                                               0xB7AD6B7169203331), *pairs]:
        assert task_id_for(trace_id, span_id) == str(uuid.uuid5(namespace, f"{trace_id:032x}/{span_id:016x}"))


def test_token_counts_that_are_not_numbers_count_zero():
    root = agent()
    calls = [chat(root, 0, 0, attrs={semconv.USAGE_INPUT_TOKENS: "¹", semconv.USAGE_OUTPUT_TOKENS: "7"}),
             chat(root, 0, 0, attrs={semconv.USAGE_INPUT_TOKENS: "x", semconv.USAGE_OUTPUT_TOKENS: 2.0})]
    tokens = assembler().add([*calls, root], now=0)[0].report.tokens
    assert (tokens.prompt_tokens, tokens.completion_tokens) == (0, 9)


def test_negative_and_boolean_token_counts_count_zero_and_leave_the_others():
    root = agent()
    calls = [chat(root, 0, 0, attrs={semconv.USAGE_INPUT_TOKENS: -5, semconv.USAGE_OUTPUT_TOKENS: 7,
                                     semconv.USAGE_CACHE_READ_INPUT_TOKENS: 3}),
             chat(root, 0, 0, attrs={semconv.USAGE_INPUT_TOKENS: True, semconv.USAGE_OUTPUT_TOKENS: 2,
                                     semconv.USAGE_CACHE_WRITE_INPUT_TOKENS: -1}),
             chat(root, 0, 0, attrs={semconv.USAGE_INPUT_TOKENS: 11, semconv.USAGE_OUTPUT_TOKENS: 0})]
    tokens = assembler().add([*calls, root], now=0)[0].report.tokens
    assert (tokens.prompt_tokens, tokens.completion_tokens, tokens.cache_read_tokens, tokens.cache_write_tokens,
            tokens.total_tokens) == (11, 9, 3, 0, 20)
