from __future__ import annotations

import pytest

from _servers import RecordingServer, ServerThread
from xpander_otel.devserver import scripted_llm


@pytest.fixture(scope="session")
def scripted_llm_server():
    """The scripted OpenAI-compatible LLM on a loopback port, for the whole session."""
    app = scripted_llm.create_app()
    server = ServerThread(app).start()
    server.llm = app.state.llm
    yield server
    server.stop()


@pytest.fixture
def llm(scripted_llm_server):
    """The scripted LLM with an empty request record; ``llm.base_url`` is its OpenAI base URL."""
    scripted_llm_server.llm.requests.clear()
    scripted_llm_server.base_url = f"{scripted_llm_server.url}/v1"
    return scripted_llm_server


@pytest.fixture
def recorder():
    """A recording HTTP server on a loopback port (``.url``, ``.requests``, ``.reply(...)``)."""
    rec = RecordingServer()
    server = ServerThread(rec.app).start()
    rec.url = server.url
    yield rec
    server.stop()


@pytest.fixture(scope="session")
def devserver(tmp_path_factory):
    """``xpander-otel serve`` as a real process on a free loopback port with its own database, for the
    session: tests create their own agents (``devserver.create_agent``) so their counts are exact."""
    from _devserver import DevServerProcess

    with DevServerProcess(tmp_path_factory.mktemp("devserver") / "tasks.sqlite3") as server:
        yield server
