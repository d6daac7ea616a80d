"""The LangChain versions this instrumentor supports. LangGraph (graphs, ``create_agent``) is patched when
it is installed (tested with langgraph 1.x); chat models and tools need only ``langchain-core``."""

_instruments = ("langchain-core >= 1.0, < 2",)
