"""Reading a span under any of the conventions we accept: ours (GenAI semconv), OpenInference,
OpenLLMetry, Pydantic AI and Logfire. Pure functions of a ``SpanRecord``; the assembler holds the rules.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from .. import semconv
from .spans import SpanRecord

# Token families, in the order a task's tokens are taken from: the first family with LLM spans wins.
GENAI = "genai"
OPENINFERENCE = "openinference"
OPENLLMETRY = "openllmetry"
FAMILIES = (GENAI, OPENINFERENCE, OPENLLMETRY)

_AGENT_OPERATIONS = frozenset({semconv.OP_INVOKE_AGENT, semconv.OP_INVOKE_WORKFLOW})
_LLM_OPERATIONS = frozenset({semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION, semconv.OP_GENERATE_CONTENT})
_TRACELOOP_AGENT_KINDS = frozenset({semconv.TRACELOOP_KIND_AGENT, semconv.TRACELOOP_KIND_WORKFLOW})


class Usage(NamedTuple):
    """Token counts of one call or run (immutable; the assembler keeps one per buffered LLM span)."""

    prompt: int = 0
    completion: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.prompt or self.completion or self.cache_read or self.cache_write)


# --- what a span is ------------------------------------------------------------------------------------

class SpanKind(NamedTuple):
    """What a span is under the accepted conventions (a span may be several things at once)."""

    ignored: bool
    agent: bool
    llm_family: str | None
    tool_name: str | None
    llm_usage: Usage | None  # an LLM call's usage, read the way its family writes it


# Builds a NamedTuple without its Python-level __new__ (a third of the cost of classifying a span).
_new_tuple = tuple.__new__


def kind(span: SpanRecord) -> SpanKind:
    """The span's kind, worked out on first use and kept on the record (the assembler asks many times)."""
    known = span._kind
    if known is None:
        known = span._kind = _classify(span.name, span.attributes)
    return known


def is_ignored(span: SpanRecord) -> bool:
    """Logfire's pending spans are placeholders of a span still open: the real one comes later."""
    return kind(span).ignored


def is_agent(span: SpanRecord) -> bool:
    return kind(span).agent


def llm_family(span: SpanRecord) -> str | None:
    """The token family of an LLM call span, or None when the span is no LLM call."""
    return kind(span).llm_family


def tool_name(span: SpanRecord) -> str | None:
    """The tool's name when the span is a tool execution, else None."""
    return kind(span).tool_name


def is_agent_attributes(name: str, attrs: Mapping[str, Any]) -> bool:
    """An agent run (or workflow) span, by its name and attributes under any accepted convention."""
    return _is_agent(name, attrs, attrs.get(semconv.OPERATION_NAME), attrs.get(semconv.OI_SPAN_KIND),
                     attrs.get(semconv.TRACELOOP_SPAN_KIND))


def _is_agent(name: str, attrs: Mapping[str, Any], operation: Any, oi_kind: Any, traceloop_kind: Any) -> bool:
    return (
        operation in _AGENT_OPERATIONS
        or oi_kind == semconv.OI_KIND_AGENT
        or traceloop_kind in _TRACELOOP_AGENT_KINDS
        or (name == semconv.PYDANTIC_AGENT_RUN_SPAN and semconv.PYDANTIC_AGENT_NAME in attrs)
    )


_NOTHING = SpanKind(False, False, None, None, None)  # most spans: of no interest to the rules
_AGENT_ONLY = SpanKind(False, True, None, None, None)


def _classify(name: str, attrs: Mapping[str, Any]) -> SpanKind:
    # One pass for every question: each convention's kind attribute is read once.
    get = attrs.get
    operation = get(semconv.OPERATION_NAME)
    oi_kind = get(semconv.OI_SPAN_KIND)
    traceloop_kind = get(semconv.TRACELOOP_SPAN_KIND)
    agent = _is_agent(name, attrs, operation, oi_kind, traceloop_kind)
    if operation in _LLM_OPERATIONS:
        family = GENAI
    elif oi_kind == semconv.OI_KIND_LLM:
        family = OPENINFERENCE
    elif semconv.LLM_REQUEST_TYPE in attrs or semconv.LEGACY_USAGE_PROMPT_TOKENS in attrs:
        family = OPENLLMETRY
    else:
        family = None
    is_tool = (
        operation == semconv.OP_EXECUTE_TOOL
        or oi_kind == semconv.OI_KIND_TOOL
        or traceloop_kind == semconv.TRACELOOP_KIND_TOOL
        or (name == semconv.PYDANTIC_TOOL_SPAN and semconv.TOOL_NAME in attrs)
    )
    ignored = get(semconv.LOGFIRE_SPAN_TYPE) == semconv.LOGFIRE_PENDING_SPAN
    if family is None and not is_tool and not ignored:
        return _AGENT_ONLY if agent else _NOTHING  # shared: no tuple to build
    return _new_tuple(SpanKind, (ignored, agent, family, _tool_name(name, attrs) if is_tool else None,
                                 _family_usage(attrs, family) if family is not None else None))


def _tool_name(name: str, attrs: Mapping[str, Any]) -> str | None:
    for key in _TOOL_NAME_KEYS:
        tool = attrs.get(key)
        if isinstance(tool, str) and tool:
            return tool
    return name.removeprefix(_TOOL_PREFIX) or None


_TOOL_NAME_KEYS = (semconv.TOOL_NAME, semconv.OI_TOOL_NAME, semconv.TRACELOOP_ENTITY_NAME)
_TOOL_PREFIX = f"{semconv.OP_EXECUTE_TOOL} "


# --- usage ---------------------------------------------------------------------------------------------

_FAMILY_KEYS: dict[str, tuple[str, str, str | None, str | None]] = {
    GENAI: (semconv.USAGE_INPUT_TOKENS, semconv.USAGE_OUTPUT_TOKENS,
            semconv.USAGE_CACHE_READ_INPUT_TOKENS, semconv.USAGE_CACHE_WRITE_INPUT_TOKENS),
    OPENINFERENCE: (semconv.OI_TOKEN_PROMPT, semconv.OI_TOKEN_COMPLETION,
                    semconv.OI_TOKEN_CACHE_READ, semconv.OI_TOKEN_CACHE_WRITE),
}
_LEGACY_KEYS = (semconv.LEGACY_USAGE_PROMPT_TOKENS, semconv.LEGACY_USAGE_COMPLETION_TOKENS, None, None)
_PYDANTIC_AGGREGATE_KEYS = (semconv.PYDANTIC_AGGREGATED_INPUT_TOKENS, semconv.PYDANTIC_AGGREGATED_OUTPUT_TOKENS,
                            None, None)


def llm_usage(span: SpanRecord, family: str) -> Usage:
    """Usage of one LLM span read the way its family writes it."""
    return _family_usage(span.attributes, family)


def _family_usage(attrs: Mapping[str, Any], family: str) -> Usage:
    if family == OPENLLMETRY:
        # OpenLLMetry moved from prompt/completion to the GenAI input/output names over time.
        legacy = _read_usage(attrs, _LEGACY_KEYS)
        return legacy if not legacy.is_empty else _read_usage(attrs, _FAMILY_KEYS[GENAI])
    return _read_usage(attrs, _FAMILY_KEYS[family])


def aggregate_usage(span: SpanRecord) -> Usage:
    """A run's own usage total on an agent span (used when the task has no LLM spans)."""
    for keys in (_FAMILY_KEYS[GENAI], _PYDANTIC_AGGREGATE_KEYS, _FAMILY_KEYS[OPENINFERENCE], _LEGACY_KEYS):
        usage = _read_usage(span.attributes, keys)
        if not usage.is_empty:
            return usage
    return Usage()


def _read_usage(attrs: Mapping[str, Any], keys: tuple[str, str, str | None, str | None]) -> Usage:
    prompt, completion, cache_read, cache_write = keys
    get = attrs.get
    counts = (get(prompt, 0), get(completion, 0), get(cache_read, 0) if cache_read else 0,
              get(cache_write, 0) if cache_write else 0)
    p, c, r, w = counts
    # The usual case, checked at once: four plain ints, none negative (OR-ing them keeps a sign bit).
    if type(p) is type(c) is type(r) is type(w) is int and (p | c | r | w) >= 0:
        return _new_tuple(Usage, counts)
    return _new_tuple(Usage, (_count(p), _count(c), _count(r), _count(w)))


def _count(value: Any) -> int:
    """A token count: non-negative int; anything else (bad data from another library) counts 0."""
    if type(value) is int:  # the usual cases, first
        return value if value > 0 else 0
    if value is None:
        return 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isdecimal():  # not isdigit(): int("¹") raises
        value = int(value)
    return value if isinstance(value, int) and value > 0 else 0


# --- names, ids and texts ------------------------------------------------------------------------------

def agent_name(span: SpanRecord) -> str | None:
    for key in (semconv.AGENT_NAME, semconv.PYDANTIC_AGENT_NAME, semconv.TRACELOOP_ENTITY_NAME):
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    name = span.name.removeprefix(f"{semconv.OP_INVOKE_AGENT} ").removeprefix(f"{semconv.OP_INVOKE_WORKFLOW} ")
    return name or None


def looks_like_xpander_id(value: Any) -> bool:
    """xpander agent ids are UUIDs; other ``gen_ai.agent.id`` values are the framework's own."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def string_attribute(span: SpanRecord, *keys: str) -> str | None:
    for key in keys:
        value = span.attributes.get(key)
        if value is not None and value != "":
            return value if isinstance(value, str) else json.dumps(value, default=str)
    return None


def task_input(span: SpanRecord) -> str | None:
    text = string_attribute(span, semconv.XPANDER_TASK_INPUT, semconv.OI_INPUT_VALUE,
                            semconv.TRACELOOP_ENTITY_INPUT)
    return text if text is not None else message_text(span.attributes.get(semconv.INPUT_MESSAGES), "user")


def task_result(span: SpanRecord) -> str | None:
    text = string_attribute(span, semconv.XPANDER_TASK_RESULT, semconv.OI_OUTPUT_VALUE,
                            semconv.TRACELOOP_ENTITY_OUTPUT, semconv.PYDANTIC_FINAL_RESULT)
    return text if text is not None else output_text(span)


def output_text(span: SpanRecord) -> str | None:
    """The captured output of an LLM or agent span, when content capture put it there."""
    text = message_text(span.attributes.get(semconv.OUTPUT_MESSAGES), "assistant")
    return text if text is not None else string_attribute(span, semconv.OI_OUTPUT_VALUE)


def message_text(raw: Any, role: str) -> str | None:
    """Text of the last ``role`` message of a GenAI ``*.messages`` attribute (JSON), if any."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        messages = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == role:
            parts = message.get("parts") or []
            texts = [p.get("content") for p in parts
                     if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("content"), str)]
            if texts:
                return "\n".join(texts)
    return None


def first_finish_reason(span: SpanRecord) -> str | None:
    reasons = span.attributes.get(semconv.RESPONSE_FINISH_REASONS)
    if isinstance(reasons, (list, tuple)):
        return str(reasons[0]) if reasons else None
    return str(reasons) if reasons not in (None, "") else None


def model_name(span: SpanRecord) -> str | None:
    return string_attribute(span, semconv.RESPONSE_MODEL, semconv.REQUEST_MODEL, semconv.OI_MODEL_NAME)
