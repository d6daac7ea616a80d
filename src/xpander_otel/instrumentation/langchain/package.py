"""The LangChain versions this instrumentor supports; LangGraph (graphs, ``create_agent``) is patched
when it is installed (``langgraph >= 1.0``), chat models and tools need only ``langchain-core``."""

_instruments = ("langchain-core >= 1.0, < 2",)
_instruments_langgraph = "langgraph >= 1.0, < 2"
