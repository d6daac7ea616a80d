"""Shared machinery of the instrumentors: safe wrapping, span lifecycle, stream wrappers, content capture.

Every framework's ``patch.py`` follows one pattern::

    def wrapper(wrapped, instance, args, kwargs):
        invocation = _wrap.AgentInvocation(name=instance.name, provider="openai", request_model="gpt-4.1")
        operation = _wrap.start(tracer, invocation, where="agno.run")   # None if our code failed
        return _wrap.call(operation, wrapped, args, kwargs, on_result=_record_output, on_chunk=_record_chunk)

``call`` runs the user's function with the span current, re-raises the user's exceptions unchanged and
follows what the function returns: a coroutine is awaited inside the span, an iterator or async iterator
is handed back wrapped in a proxy stream that ends the span exactly once (exhaustion, error,
``close()``/``aclose()``, or garbage collection after an early ``break``); anything else ends the span
at once. A bug in our code (starting a span, building attributes, a callback) is logged once per place
and the user's call proceeds as if it were not instrumented.

Invocation objects collect what a span needs while the call runs and write all attributes once, at the
end: one place (``end_attributes``) knows the attribute layout of each span kind.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import threading
import traceback
import types
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.trace import SpanKind, StatusCode

from .. import __version__, config, llm_keys, semconv

_logger = llm_keys.get_logger(__name__)

# The context key under which the innermost running agent invocation travels (usage aggregation).
_AGENT_KEY = otel_context.create_key("xpander-agent-invocation")
_ERROR_TYPE = "error.type"
_TRUNCATED = "...[truncated]"

Callback = Callable[[Any, Any], None]
HandOver = Callable[["Operation", Any], bool]


# --- logging our own failures once -------------------------------------------------------------------

_reported: set[str] = set()
# Re-entrant locks here and below: a stream abandoned to the garbage collector ends its span from
# __del__, which may run on this very thread while it holds one of them.
_reported_lock = threading.RLock()


def log_once(where: str, exc: BaseException) -> None:
    """Log a failure of our own code once per place; the user's call goes on untouched."""
    with _reported_lock:
        if where in _reported:
            return
        _reported.add(where)
    _logger.warning(
        "xpander-otel instrumentation failed in %s and skipped it; the application is unaffected. "
        "Please report this: %s: %s",
        where,
        type(exc).__name__,
        llm_keys.scrub(str(exc)),
    )


def reset_log_once() -> None:
    """Forget which failures were logged (tests)."""
    with _reported_lock:
        _reported.clear()


def guarded(where: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or None when it raises (logged once under ``where``)."""
    try:
        return fn(*args)
    except Exception as exc:
        log_once(where, exc)
        return None


# --- tracer and content settings ---------------------------------------------------------------------


def get_tracer(name: str, tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """The tracer of one instrumentation module, versioned with this package."""
    return trace.get_tracer(name, __version__, tracer_provider, schema_url=semconv.SCHEMA_URL)


_capture = config.content_capture()


def refresh_content_capture() -> config.ContentCapture:
    """Re-read the content-capture settings (each ``Instrumentor.instrument()`` does)."""
    global _capture
    _capture = config.content_capture()
    return _capture


def content_capture() -> config.ContentCapture:
    return _capture


def capture_text(value: Any) -> str | None:
    """``value`` as span text: JSON (or str) of it, secret-scrubbed and capped at the configured length."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        dump = getattr(value, "model_dump", None)
        try:
            text = json.dumps(dump(mode="json") if callable(dump) else value, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            text = str(value)
    text = llm_keys.scrub(text)
    limit = _capture.max_length
    return text if len(text) <= limit else text[: limit - len(_TRUNCATED)] + _TRUNCATED


# --- invocations: what one span needs, written once at the end ---------------------------------------

_usage_lock = threading.RLock()


@dataclass
class Usage:
    """Token counts of one LLM call, or the sum over an agent run. None means "not reported"."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None

    def add(self, other: Usage) -> None:
        with _usage_lock:
            for name in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_write_input_tokens"):
                value = getattr(other, name)
                if value is not None:
                    setattr(self, name, (getattr(self, name) or 0) + value)

    def attributes(self) -> dict[str, int]:
        pairs = (
            (semconv.USAGE_INPUT_TOKENS, self.input_tokens),
            (semconv.USAGE_OUTPUT_TOKENS, self.output_tokens),
            (semconv.USAGE_CACHE_READ_INPUT_TOKENS, self.cache_read_input_tokens),
            (semconv.USAGE_CACHE_WRITE_INPUT_TOKENS, self.cache_write_input_tokens),
        )
        return {name: int(value) for name, value in pairs if value is not None}


def _without_none(pairs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in pairs.items() if v is not None and v != ""}


@dataclass(eq=False)
class Invocation:
    """Base of the three span kinds; subclasses name the span and lay out its attributes."""

    kind: ClassVar[SpanKind] = SpanKind.INTERNAL
    operation: ClassVar[str] = ""
    provider: str | None = None
    # Extra attributes a patch wants on the span (set at the end, after ours).
    extra: dict[str, Any] = field(default_factory=dict)
    # A failure the framework reported in its result instead of raising (``fail()``).
    failure_type: str | None = None
    failure_message: str | None = None

    def fail(self, message: str | None, error_type: str | None = None) -> None:
        """Mark the span as failed without an exception (a framework that returns its errors)."""
        self.failure_message = message
        self.failure_type = error_type or self.failure_type or "error"

    def span_name(self) -> str:
        return self.operation

    def start_attributes(self) -> dict[str, Any]:
        """What samplers may need: known when the span starts."""
        return _without_none({semconv.OPERATION_NAME: self.operation, semconv.PROVIDER_NAME: self.provider})

    def end_attributes(self) -> dict[str, Any]:
        return dict(self.extra)


@dataclass(eq=False)
class AgentInvocation(Invocation):
    """One agent run: ``invoke_agent {name}``, with the run's aggregated usage and the task's text."""

    operation: ClassVar[str] = semconv.OP_INVOKE_AGENT
    name: str | None = None
    agent_id: str | None = None
    description: str | None = None
    request_model: str | None = None
    conversation_id: str | None = None
    # xpander.agent.id / xpander.task.id (task_context.xpander_attributes).
    xpander: dict[str, str] = field(default_factory=dict)
    input: Any = None
    output: Any = None
    usage: Usage = field(default_factory=Usage)
    # The agent run this one is nested in (team member, handoff target, agent-as-tool).
    parent: AgentInvocation | None = None
    # error.type of the last LLM or tool call that raised inside this run (for frameworks that
    # catch the exception and report the failure in their result).
    last_error_type: str | None = None

    def span_name(self) -> str:
        return f"{self.operation} {self.name}" if self.name else self.operation

    def start_attributes(self) -> dict[str, Any]:
        return {
            **super().start_attributes(),
            **_without_none({
                semconv.AGENT_NAME: self.name,
                semconv.AGENT_ID: self.agent_id,
                semconv.REQUEST_MODEL: self.request_model,
            }),
            **self.xpander,
        }

    def end_attributes(self) -> dict[str, Any]:
        attributes = _without_none({
            semconv.AGENT_ID: self.agent_id,
            semconv.AGENT_DESCRIPTION: self.description,
            semconv.CONVERSATION_ID: self.conversation_id,
            semconv.REQUEST_MODEL: self.request_model,
            **self.xpander,
            **self.usage.attributes(),
        })
        if _capture.task:
            attributes.update(_without_none({
                semconv.XPANDER_TASK_INPUT: capture_text(self.input),
                semconv.XPANDER_TASK_RESULT: capture_text(self.output),
            }))
        attributes.update(self.extra)
        return attributes


@dataclass(eq=False)
class ChatInvocation(Invocation):
    """One LLM call: ``chat {model}`` (CLIENT) with its usage, streaming included."""

    kind: ClassVar[SpanKind] = SpanKind.CLIENT
    operation: ClassVar[str] = semconv.OP_CHAT
    request_model: str | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    # Content, kept only when message capture is on (patches check ``content_capture().messages``).
    input_messages: Any = None
    output_messages: Any = None

    def span_name(self) -> str:
        return f"{self.operation} {self.request_model}" if self.request_model else self.operation

    def start_attributes(self) -> dict[str, Any]:
        return {**super().start_attributes(), **_without_none({semconv.REQUEST_MODEL: self.request_model})}

    def end_attributes(self) -> dict[str, Any]:
        attributes = _without_none({
            semconv.RESPONSE_MODEL: self.response_model,
            semconv.RESPONSE_ID: self.response_id,
            semconv.RESPONSE_FINISH_REASONS: tuple(self.finish_reasons) or None,
            **self.usage.attributes(),
        })
        if _capture.messages:
            attributes.update(_without_none({
                semconv.INPUT_MESSAGES: capture_text(self.input_messages),
                semconv.OUTPUT_MESSAGES: capture_text(self.output_messages),
            }))
        attributes.update(self.extra)
        return attributes


@dataclass(eq=False)
class ToolInvocation(Invocation):
    """One tool call: ``execute_tool {name}`` with the call id; arguments/result only with capture on."""

    operation: ClassVar[str] = semconv.OP_EXECUTE_TOOL
    name: str | None = None
    call_id: str | None = None
    tool_type: str | None = "function"
    description: str | None = None
    arguments: Any = None
    result: Any = None

    def span_name(self) -> str:
        return f"{self.operation} {self.name}" if self.name else self.operation

    def start_attributes(self) -> dict[str, Any]:
        return {
            **super().start_attributes(),
            **_without_none({
                semconv.TOOL_NAME: self.name,
                semconv.TOOL_CALL_ID: self.call_id,
                semconv.TOOL_TYPE: self.tool_type,
            }),
        }

    def end_attributes(self) -> dict[str, Any]:
        attributes = _without_none({
            semconv.TOOL_CALL_ID: self.call_id,
            semconv.TOOL_DESCRIPTION: self.description,
        })
        if _capture.messages:
            attributes.update(_without_none({
                semconv.TOOL_CALL_ARGUMENTS: capture_text(self.arguments),
                semconv.TOOL_CALL_RESULT: capture_text(self.result),
            }))
        attributes.update(self.extra)
        return attributes


# --- span lifecycle ----------------------------------------------------------------------------------

_end_lock = threading.RLock()


class Operation:
    """A started span and its invocation; ``end()`` writes the attributes and ends it, exactly once."""

    __slots__ = ("_ended", "context", "invocation", "name", "span", "where")

    def __init__(self, invocation: Invocation, span: trace.Span, context: otel_context.Context, where: str) -> None:
        self.invocation = invocation
        self.span = span
        self.name = invocation.span_name()
        self.context = context
        self.where = where
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    def activate(self) -> object | None:
        """Make this span current (for the frame that runs the user's code); pass the token to deactivate."""
        try:
            return otel_context.attach(self.context)
        except Exception as exc:
            log_once(f"{self.where}.activate", exc)
            return None

    def deactivate(self, token: object | None) -> None:
        if token is not None:
            try:
                otel_context.detach(token)
            except Exception as exc:
                log_once(f"{self.where}.deactivate", exc)

    def end(self, error: BaseException | None = None) -> None:
        """Write the attributes, record ``error`` (status, ``error.type``, exception event) and end."""
        with _end_lock:
            if self._ended:
                return
            self._ended = True
        span = self.span
        try:
            self._finish_invocation(error)
            name = self.invocation.span_name()
            if name != self.name:  # the model became known only at the end
                span.update_name(name)
            span.set_attributes(self.invocation.end_attributes())
        except Exception as exc:
            log_once(f"{self.where}.attributes", exc)
        if error is not None:
            guarded(f"{self.where}.error", _record_error, span, error)
        elif self.invocation.failure_type is not None:
            guarded(f"{self.where}.error", _record_failure, span, self.invocation)
        try:
            span.end()
        except Exception as exc:
            log_once(f"{self.where}.end", exc)

    def _finish_invocation(self, error: BaseException | None) -> None:
        invocation = self.invocation
        if isinstance(invocation, AgentInvocation):
            return
        agent = otel_context.get_value(_AGENT_KEY, self.context)
        if error is not None and isinstance(agent, AgentInvocation):
            agent.last_error_type = type(error).__qualname__
        # An agent's aggregated usage is the sum of its LLM calls, nested agents' calls included.
        if isinstance(invocation, ChatInvocation):
            while isinstance(agent, AgentInvocation):
                agent.usage.add(invocation.usage)
                agent = agent.parent


def _record_error(span: trace.Span, error: BaseException) -> None:
    # Our own exception event rather than span.record_exception: its message and stack are scrubbed.
    message = llm_keys.scrub(str(error))
    error_type = type(error).__qualname__
    span.set_attribute(_ERROR_TYPE, error_type)
    span.add_event("exception", {
        "exception.type": f"{type(error).__module__}.{error_type}",
        "exception.message": message,
        "exception.stacktrace": llm_keys.scrub("".join(traceback.format_exception(error))),
    })
    span.set_status(StatusCode.ERROR, message or error_type)


def _record_failure(span: trace.Span, invocation: Invocation) -> None:
    message = llm_keys.scrub(str(invocation.failure_message or ""))
    span.set_attribute(_ERROR_TYPE, invocation.failure_type or "error")
    span.set_status(StatusCode.ERROR, message or invocation.failure_type)


def start(
    tracer: trace.Tracer,
    invocation: Invocation | Callable[..., Invocation],
    *args: Any,
    where: str,
    parent: otel_context.Context | None = None,
) -> Operation | None:
    """Start the invocation's span as a child of the current one (or of ``parent``); None (logged once)
    if that fails.

    ``invocation`` may be a factory, called with ``args`` inside the guard: building it from the
    framework's objects is our code and may fail.
    """
    try:
        if not isinstance(invocation, Invocation):
            invocation = invocation(*args)
        if parent is None:
            parent = otel_context.get_current()
        span = tracer.start_span(
            invocation.span_name(), context=parent, kind=invocation.kind, attributes=invocation.start_attributes()
        )
        context = trace.set_span_in_context(span, parent)
        if isinstance(invocation, AgentInvocation):
            outer = otel_context.get_value(_AGENT_KEY, parent)
            if isinstance(outer, AgentInvocation) and invocation.parent is None:
                invocation.parent = outer
            context = otel_context.set_value(_AGENT_KEY, invocation, context)
        return Operation(invocation, span, context, where)
    except Exception as exc:
        log_once(f"{where}.start", exc)
        return None


def current_agent() -> AgentInvocation | None:
    """The innermost agent run in the current context (to attach usage or output to it)."""
    value = otel_context.get_value(_AGENT_KEY)
    return value if isinstance(value, AgentInvocation) else None


def call(
    operation: Operation | None,
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    on_result: Callback | None = None,
    on_chunk: Callback | None = None,
    hand_over: HandOver | None = None,
) -> Any:
    """Run ``wrapped(*args, **kwargs)`` inside ``operation`` and follow what it returns (see module doc).

    ``on_result(invocation, result)`` sees a plain or awaited result; ``on_chunk(invocation, chunk)``
    sees each item of a returned stream. Both are guarded: if they raise, the value still reaches the user.
    ``hand_over(operation, result)`` may take over ending the span (e.g. by wrapping a generator the
    result carries with ``stream()``) and return True; then ``call`` leaves the span open.
    """
    if operation is None:
        return wrapped(*args, **kwargs)
    token = operation.activate()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        operation.deactivate(token)
        operation.end(exc)
        raise
    operation.deactivate(token)
    return follow(operation, result, on_result=on_result, on_chunk=on_chunk, hand_over=hand_over)


def follow(
    operation: Operation,
    result: Any,
    *,
    on_result: Callback | None = None,
    on_chunk: Callback | None = None,
    hand_over: HandOver | None = None,
) -> Any:
    """Hand ``result`` back, ending ``operation`` now or when the coroutine/stream it is finishes."""
    try:
        if inspect.iscoroutine(result):
            return _awaited(operation, result, on_result, on_chunk, hand_over)
        if isinstance(result, (types.GeneratorType, Iterator)) and not isinstance(result, (str, bytes)):
            return SyncStream(result, operation, on_chunk)
        if isinstance(result, (types.AsyncGeneratorType, AsyncIterator)):
            return AsyncStream(result, operation, on_chunk)
    except Exception as exc:
        log_once(f"{operation.where}.stream", exc)
        operation.end()
        return result
    if on_result is not None:
        guarded(f"{operation.where}.result", on_result, operation.invocation, result)
    if hand_over is not None and guarded(f"{operation.where}.hand_over", hand_over, operation, result):
        return result
    operation.end()
    return result


def stream(operation: Operation, iterator: Any, on_chunk: Callback | None = None) -> Any:
    """``iterator`` (sync or async) wrapped so that it ends ``operation`` when it finishes."""
    if isinstance(iterator, (types.AsyncGeneratorType, AsyncIterator)):
        return AsyncStream(iterator, operation, on_chunk)
    return SyncStream(iterator, operation, on_chunk)


async def _awaited(
    operation: Operation, coro: Any, on_result: Callback | None, on_chunk: Callback | None, hand_over: HandOver | None
) -> Any:
    token = operation.activate()
    try:
        result = await coro
    except BaseException as exc:
        operation.deactivate(token)
        operation.end(exc)
        raise
    operation.deactivate(token)
    return follow(operation, result, on_result=on_result, on_chunk=on_chunk, hand_over=hand_over)


# --- streams -----------------------------------------------------------------------------------------


class SyncStream(wrapt.ObjectProxy):
    """An iterator proxy that owns its span: each step runs with the span current, and the span ends
    exactly once, on exhaustion, error, ``close()``, ``__exit__`` or garbage collection of an abandoned
    stream. Everything else is delegated to the wrapped iterator."""

    def __init__(self, wrapped: Iterator[Any], operation: Operation, on_chunk: Callback | None = None) -> None:
        super().__init__(wrapped)
        self._self_operation = operation
        self._self_on_chunk = on_chunk

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> Any:
        operation = self._self_operation
        token = operation.activate()
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            operation.deactivate(token)
            operation.end()
            raise
        except BaseException as exc:
            operation.deactivate(token)
            operation.end(exc)
            raise
        operation.deactivate(token)
        if self._self_on_chunk is not None:
            guarded(f"{operation.where}.chunk", self._self_on_chunk, operation.invocation, chunk)
        return chunk

    def close(self) -> None:
        operation = self._self_operation
        token = operation.activate()
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
        finally:
            operation.deactivate(token)
            operation.end()

    def __enter__(self) -> SyncStream:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_operation.end(exc if isinstance(exc, BaseException) else None)

    def __del__(self) -> None:
        # An abandoned stream (early ``break`` then dropped): end the span without an error.
        operation = getattr(self, "_self_operation", None)
        if operation is not None and not operation.ended:
            operation.end()


class AsyncStream(wrapt.ObjectProxy):
    """The async twin of ``SyncStream``: ``__anext__``, ``aclose()``, ``__aexit__`` and ``__del__``."""

    def __init__(self, wrapped: AsyncIterator[Any], operation: Operation, on_chunk: Callback | None = None) -> None:
        super().__init__(wrapped)
        self._self_operation = operation
        self._self_on_chunk = on_chunk

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        operation = self._self_operation
        token = operation.activate()
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            operation.deactivate(token)
            operation.end()
            raise
        except BaseException as exc:
            operation.deactivate(token)
            operation.end(exc)
            raise
        operation.deactivate(token)
        if self._self_on_chunk is not None:
            guarded(f"{operation.where}.chunk", self._self_on_chunk, operation.invocation, chunk)
        return chunk

    async def aclose(self) -> None:
        operation = self._self_operation
        token = operation.activate()
        try:
            aclose = getattr(self.__wrapped__, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            operation.deactivate(token)
            operation.end()

    async def __aenter__(self) -> AsyncStream:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return (await exit_(exc_type, exc, tb)) if exit_ is not None else None
        finally:
            self._self_operation.end(exc if isinstance(exc, BaseException) else None)

    def __del__(self) -> None:
        operation = getattr(self, "_self_operation", None)
        if operation is not None and not operation.ended:
            operation.end()


# --- context into threads and executors --------------------------------------------------------------


def with_current_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` bound to the caller's context (spans, task scope), to run in another thread.

    >>> executor.submit(with_current_context(work), item)   # doctest: +SKIP
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        # A copy per call: one Context object cannot be entered by two threads at once.
        return captured.copy().run(fn, *args, **kwargs)

    return run


def submit_with_context(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A wrapt wrapper for ``Executor.submit``-like methods (``fn`` first): ``fn`` runs in the caller's context."""
    if args and callable(args[0]):
        bound = guarded("context.submit", with_current_context, args[0])
        if bound is not None:
            args = (bound, *args[1:])
    return wrapped(*args, **kwargs)


# --- patch targets -----------------------------------------------------------------------------------

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass(frozen=True)
class Target:
    """One method to wrap: ``module``, ``"Class.method"`` and a factory ``make(tracer) -> wrapper``."""

    module: str
    name: str
    make: Callable[[trace.Tracer], Wrapper]


def wrap_targets(targets: list[Target], tracer: trace.Tracer) -> list[tuple[Any, str]]:
    """Wrap each target that exists; return (owner, attribute) pairs for ``unwrap_targets``.

    A target missing from the installed framework version is skipped with a debug line.
    """
    done: list[tuple[Any, str]] = []
    for target in targets:
        try:
            owner, _, _ = wrapt.resolve_path(target.module, target.name)
            wrapt.wrap_function_wrapper(target.module, target.name, target.make(tracer))
        except (ImportError, AttributeError) as exc:
            _logger.debug("xpander-otel: %s.%s not found, not instrumented (%s)", target.module, target.name, exc)
            continue
        done.append((owner, target.name.rsplit(".", 1)[-1]))
    return done


def unwrap_targets(done: list[tuple[Any, str]]) -> None:
    """Restore exactly the originals that ``wrap_targets`` replaced."""
    for owner, attribute in reversed(done):
        current = owner.__dict__.get(attribute) if isinstance(owner, type) else getattr(owner, attribute, None)
        if isinstance(current, wrapt.FunctionWrapper):
            setattr(owner, attribute, current.__wrapped__)
    done.clear()


class Instrumentor(BaseInstrumentor):
    """``BaseInstrumentor`` whose manual ``instrument()`` skips a missing or unsupported framework
    version with one debug line instead of an error (``opentelemetry-instrument`` already does so)."""

    def instrument(self, **kwargs: Any) -> Any:
        if not (kwargs.get("skip_dep_check") or kwargs.get("raise_exception_on_conflict")):
            conflict = self._check_dependency_conflicts()
            if conflict is not None:
                _logger.debug("xpander-otel: %s skipped: %s", type(self).__name__, conflict)
                return None
            kwargs["skip_dep_check"] = True
        return super().instrument(**kwargs)

    def _instrument(self, **kwargs: Any) -> None:  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def _uninstrument(self, **kwargs: Any) -> None:  # pragma: no cover - subclasses implement
        raise NotImplementedError
