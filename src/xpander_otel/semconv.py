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
USAGE_CACHE_READ_INPUT_TOKENS = gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
USAGE_CACHE_WRITE_INPUT_TOKENS = gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
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
