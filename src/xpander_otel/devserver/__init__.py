"""The local dev server (`xpander-otel serve`): an xpander-compatible API, task pages and a scripted LLM.

Modules: ``app`` (the ASGI app), ``api`` (xpander routes), ``pages`` (HTML), ``storage`` (SQLite),
``agents`` (agent definitions and files), ``middleware`` (body limit, API key), ``scripted_llm``,
``demo`` and ``commands`` (the CLI). Needs the ``server`` extra; nothing here is imported by the core.
"""
