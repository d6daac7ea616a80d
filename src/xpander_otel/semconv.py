"""Attribute names: the GenAI semantic conventions we emit, our own ``xpander.*`` names, and the
aliases of other conventions (OpenInference, OpenLLMetry, Pydantic AI) that the assembler reads.

Names that exist in ``opentelemetry.semconv`` come from there; only ours are literals.
"""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

# GenAI semantic conventions (emitted).
OPERATION_NAME = gen_ai.GEN_AI_OPERATION_NAME
PROVIDER_NAME = gen_ai.GEN_AI_PROVIDER_NAME
AGENT_NAME = gen_ai.GEN_AI_AGENT_NAME
AGENT_ID = gen_ai.GEN_AI_AGENT_ID
CONVERSATION_ID = gen_ai.GEN_AI_CONVERSATION_ID
REQUEST_MODEL = gen_ai.GEN_AI_REQUEST_MODEL
RESPONSE_MODEL = gen_ai.GEN_AI_RESPONSE_MODEL
RESPONSE_ID = gen_ai.GEN_AI_RESPONSE_ID
RESPONSE_FINISH_REASONS = gen_ai.GEN_AI_RESPONSE_FINISH_REASONS
USAGE_INPUT_TOKENS = gen_ai.GEN_AI_USAGE_INPUT_TOKENS
USAGE_OUTPUT_TOKENS = gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
# Newer than some releases frameworks pin (google-adk 1.2x holds semconv at 0.58b0): literal fallback.
USAGE_CACHE_READ_INPUT_TOKENS = getattr(
    gen_ai, "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS", "gen_ai.usage.cache_read.input_tokens"
)
USAGE_CACHE_WRITE_INPUT_TOKENS = getattr(
    gen_ai, "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS", "gen_ai.usage.cache_creation.input_tokens"
)
TOOL_NAME = gen_ai.GEN_AI_TOOL_NAME
TOOL_CALL_ID = gen_ai.GEN_AI_TOOL_CALL_ID
TOOL_TYPE = gen_ai.GEN_AI_TOOL_TYPE
TOOL_CALL_ARGUMENTS = gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS
TOOL_CALL_RESULT = gen_ai.GEN_AI_TOOL_CALL_RESULT
INPUT_MESSAGES = gen_ai.GEN_AI_INPUT_MESSAGES
OUTPUT_MESSAGES = gen_ai.GEN_AI_OUTPUT_MESSAGES
SYSTEM_INSTRUCTIONS = gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS
AGENT_DESCRIPTION = gen_ai.GEN_AI_AGENT_DESCRIPTION
TOOL_DESCRIPTION = gen_ai.GEN_AI_TOOL_DESCRIPTION

# The semantic-conventions version our instrumentors' tracers declare.
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"

# Operation names.
OP_INVOKE_AGENT = "invoke_agent"
OP_INVOKE_WORKFLOW = "invoke_workflow"
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_GENERATE_CONTENT = "generate_content"
OP_EXECUTE_TOOL = "execute_tool"

# Ours: what ties a run to xpander.
XPANDER_AGENT_ID = "xpander.agent.id"
XPANDER_TASK_ID = "xpander.task.id"
# The task's input and final result, captured on the agent span (size-capped, scrubbed).
XPANDER_TASK_INPUT = "xpander.task.input"
XPANDER_TASK_RESULT = "xpander.task.result"
# Set on a task root whose subtree lost spans (the batch processor dropped some).
XPANDER_TASK_INCOMPLETE = "xpander.task.incomplete"

# --- Aliases the assembler reads (other conventions; never emitted by us) -------------------------------

# OpenInference (Arize/Phoenix).
OI_SPAN_KIND = "openinference.span.kind"  # AGENT | LLM | TOOL | CHAIN | ...
OI_KIND_AGENT = "AGENT"
OI_KIND_LLM = "LLM"
OI_KIND_TOOL = "TOOL"
OI_TOKEN_PROMPT = "llm.token_count.prompt"
OI_TOKEN_COMPLETION = "llm.token_count.completion"
OI_TOKEN_CACHE_READ = "llm.token_count.prompt_details.cache_read"
OI_TOKEN_CACHE_WRITE = "llm.token_count.prompt_details.cache_write"
OI_MODEL_NAME = "llm.model_name"
OI_TOOL_NAME = "tool.name"
OI_INPUT_VALUE = "input.value"
OI_OUTPUT_VALUE = "output.value"

# OpenLLMetry (Traceloop).
TRACELOOP_SPAN_KIND = "traceloop.span.kind"  # workflow | agent | task | tool
TRACELOOP_KIND_AGENT = "agent"
TRACELOOP_KIND_WORKFLOW = "workflow"
TRACELOOP_KIND_TOOL = "tool"
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_ENTITY_INPUT = "traceloop.entity.input"
TRACELOOP_ENTITY_OUTPUT = "traceloop.entity.output"
LLM_REQUEST_TYPE = "llm.request.type"  # chat | completion: marks an OpenLLMetry LLM span
LEGACY_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
LEGACY_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"
LEGACY_SYSTEM = "gen_ai.system"

# Pydantic AI: the agent run span carries the run's summed usage under these names.
PYDANTIC_AGGREGATED_INPUT_TOKENS = "gen_ai.aggregated_usage.input_tokens"
PYDANTIC_AGGREGATED_OUTPUT_TOKENS = "gen_ai.aggregated_usage.output_tokens"
PYDANTIC_AGENT_NAME = "agent_name"
PYDANTIC_FINAL_RESULT = "final_result"
PYDANTIC_AGENT_RUN_SPAN = "agent run"
PYDANTIC_TOOL_SPAN = "running tool"

# Logfire: a "pending" span is a placeholder sent while the real span is open; the assembler ignores it.
LOGFIRE_SPAN_TYPE = "logfire.span_type"
LOGFIRE_PENDING_SPAN = "pending_span"
