"""The seam the OTLP receiver will use: an extra route that stores assembled reports through the app."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from _servers import ServerThread
from xpander_otel import TaskReport, Tokens
from xpander_otel.devserver.app import ServerSettings, create_app


async def fake_receiver(request: Request) -> JSONResponse:
    """Stands in for the bridge's decoding: the body is already a report; storing it is the real seam."""
    body = await request.json()
    task = request.app.state.record_report(body["agent_id"], TaskReport.model_validate(body["report"]))
    return JSONResponse({"stored": task["id"]})


def test_extra_route_stores_reports_that_read_back_like_reported_ones(tmp_path):
    app = create_app(ServerSettings(db_path=tmp_path / "t.sqlite3"),
                     extra_routes=[Route("/v1/traces", fake_receiver, methods=["POST"])])
    server = ServerThread(app).start()
    try:
        report = TaskReport(id="from-spans-1", input="Weather?", result="Sunny.", used_tools=["get_weather"],
                            tokens=Tokens(prompt_tokens=50, completion_tokens=10), duration=0.5)
        response = httpx.post(f"{server.url}/v1/traces",
                              json={"agent_id": "weather-agent", "report": report.to_wire()})
        assert response.json() == {"stored": "from-spans-1"}
        task = httpx.get(f"{server.url}/tasks/from-spans-1").json()
        assert (task["agent_id"], task["result"], task["used_tools"], task["tokens"]["total_tokens"]) == (
            "weather-agent", "Sunny.", ["get_weather"], 60)
        # The scripted LLM under /v1 is still there beside the receiver.
        assert httpx.get(f"{server.url}/v1/models").status_code == 200
    finally:
        server.stop()
        app.state.storage.close()
