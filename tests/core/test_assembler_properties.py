"""Property tests: random span trees, arrival orders and batch splits never crash the assembler, and
tokens are never negative nor counted twice."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xpander_otel import semconv
from xpander_otel.exporter.assembler import Assembler, AssemblerSettings
from xpander_otel.exporter.spans import SpanRecord
from xpander_otel.models import TaskReport

KINDS = ("agent", "chat", "tool", "other", "oi_llm", "oi_agent")


@st.composite
def trees(draw):
    """A trace: parent indexes point to earlier nodes; node 0 is the local root. Chat spans are leaves."""
    size = draw(st.integers(min_value=1, max_value=30))
    nodes = []
    for i in range(size):
        parent = None if i == 0 else draw(st.integers(min_value=0, max_value=i - 1))
        kind = draw(st.sampled_from(KINDS))
        nodes.append((parent, kind, draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000)),
                      draw(st.booleans())))
    # Chat spans have no children: re-parent children of LLM spans to the LLM span's parent.
    fixed = []
    for parent, kind, p, c, err in nodes:
        while parent is not None and nodes[parent][1] in ("chat", "oi_llm"):
            parent = nodes[parent][0]
        fixed.append((parent, kind, p, c, err))
    return fixed


def to_records(nodes, trace_id=7):
    records = []
    for i, (parent, kind, prompt, completion, err) in enumerate(nodes):
        attrs = {
            "agent": {semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: f"a{i}"},
            "chat": {semconv.OPERATION_NAME: semconv.OP_CHAT, semconv.USAGE_INPUT_TOKENS: prompt,
                     semconv.USAGE_OUTPUT_TOKENS: completion},
            "tool": {semconv.OPERATION_NAME: semconv.OP_EXECUTE_TOOL, semconv.TOOL_NAME: f"t{i % 3}"},
            "other": {},
            "oi_llm": {semconv.OI_SPAN_KIND: "LLM", semconv.OI_TOKEN_PROMPT: prompt,
                       semconv.OI_TOKEN_COMPLETION: completion},
            "oi_agent": {semconv.OI_SPAN_KIND: "AGENT"},
        }[kind]
        records.append(SpanRecord(trace_id, i + 1, None if parent is None else parent + 1, f"{kind}-{i}",
                                  start_ns=i, end_ns=i + 10, is_error=err, error_message="boom" if err else None,
                                  attributes=attrs))
    return records


def final_reports(nodes, order, cuts):
    records = to_records(nodes)
    shuffled = [records[i] for i in order]
    assembler = Assembler(AssemblerSettings(default_agent_id="a"))
    bodies = {}
    start = 0
    for cut in [*sorted(cuts), len(shuffled)]:
        for task in assembler.add(shuffled[start:cut], now=0):
            bodies[task.root_span_id] = task.report
        start = cut
    for task in assembler.flush():
        bodies[task.root_span_id] = task.report
    return records, bodies


def is_agent_kind(kind):
    return kind in ("agent", "oi_agent")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_trees_give_one_report_per_top_agent_and_count_each_llm_call_once(data):
    nodes = data.draw(trees())
    order = data.draw(st.permutations(range(len(nodes))))
    cuts = data.draw(st.lists(st.integers(0, len(nodes)), max_size=4))
    _, reports = final_reports(nodes, order, cuts)

    def ancestors(i):
        parent = nodes[i][0]
        while parent is not None:
            yield parent
            parent = nodes[parent][0]

    tops = [i for i, n in enumerate(nodes) if is_agent_kind(n[1])
            and not any(is_agent_kind(nodes[a][1]) for a in ancestors(i))]
    assert sorted(reports) == sorted(i + 1 for i in tops)
    for top in tops:
        under = [i for i in range(len(nodes)) if i == top or top in ancestors(i)]
        genai = [i for i in under if nodes[i][1] == "chat"]
        family = genai or [i for i in under if nodes[i][1] == "oi_llm"]
        tokens = reports[top + 1].tokens
        assert tokens.prompt_tokens == sum(nodes[i][2] for i in family)
        assert tokens.completion_tokens == sum(nodes[i][3] for i in family)
        assert tokens.total_tokens == tokens.prompt_tokens + tokens.completion_tokens
        assert reports[top + 1].is_success is not nodes[top][4]


ATTRIBUTE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True), st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3).map(tuple),
)
KEYS = [semconv.OPERATION_NAME, semconv.USAGE_INPUT_TOKENS, semconv.USAGE_OUTPUT_TOKENS, semconv.TOOL_NAME,
        semconv.OI_SPAN_KIND, semconv.OI_TOKEN_PROMPT, semconv.LEGACY_USAGE_PROMPT_TOKENS, semconv.LLM_REQUEST_TYPE,
        semconv.TRACELOOP_SPAN_KIND, semconv.INPUT_MESSAGES, semconv.OUTPUT_MESSAGES, semconv.XPANDER_TASK_ID,
        semconv.RESPONSE_FINISH_REASONS, semconv.AGENT_ID, semconv.PYDANTIC_AGGREGATED_INPUT_TOKENS]
OPERATIONS = st.sampled_from(["invoke_agent", "chat", "execute_tool", "invoke_workflow", "x"])


@settings(max_examples=300, deadline=None)
@given(spans=st.lists(st.tuples(
    st.integers(1, 3), st.integers(1, 12), st.one_of(st.none(), st.integers(1, 12)),
    st.dictionaries(st.sampled_from(KEYS), ATTRIBUTE_VALUES, max_size=6), OPERATIONS,
    st.integers(-5, 5), st.booleans()), max_size=25))
def test_garbage_attributes_and_malformed_trees_never_crash_nor_go_negative(spans):
    assembler = Assembler(AssemblerSettings(default_agent_id="a", max_spans_per_trace=8, max_open_traces=2))
    reports = []
    for trace_id, span_id, parent_id, attrs, operation, end, remote in spans:
        attrs = {semconv.OPERATION_NAME: operation, **attrs}
        record = SpanRecord(trace_id, span_id, parent_id, operation, 0, end, attributes=attrs,
                            parent_is_remote=remote)
        reports += assembler.add([record], now=0)
    reports += assembler.expire(now=10_000) + assembler.flush()
    for task in reports:
        tokens = task.report.tokens
        assert min(tokens.prompt_tokens, tokens.completion_tokens, tokens.cache_read_tokens,
                   tokens.cache_write_tokens) >= 0
        assert tokens.total_tokens == tokens.prompt_tokens + tokens.completion_tokens
        assert task.report.duration >= 0
        task.report.model_dump_json()  # serialisable for the wire
        assert json.dumps(task.body) == json.dumps(TaskReport.model_validate(task.body).to_wire())
