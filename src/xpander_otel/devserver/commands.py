"""The dev server's subcommands of ``xpander-otel``: ``serve``, ``demo`` and ``tasks``.

Server modules (starlette, uvicorn) are imported inside ``serve`` and ``demo`` only, so ``tasks`` works
with the core install.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import httpx

from .. import config


def add_commands(sub: Any) -> None:
    """Add ``serve``, ``demo`` and ``tasks`` to the ``xpander-otel`` subparsers."""
    serve = sub.add_parser("serve", help="run the local dev server (xpander API, task pages, scripted LLM)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=config.DEFAULT_DEVSERVER_PORT,
                       help=f"port (default: {config.DEFAULT_DEVSERVER_PORT})")
    serve.add_argument("--db", type=Path, default=None,
                       help=f"SQLite database (default: ${config.ENV_DEVSERVER_DB}, else in your data folder)")
    serve.add_argument("--agents", type=Path, default=None,
                       help="YAML or JSON file of agents (default: the example agents)")
    serve.add_argument("--api-key", default=None, help="require this key in x-api-key on the API routes")
    serve.set_defaults(handler=serve_command)

    demo = sub.add_parser("demo", help="run an example agent against the local dev server and show its task")
    demo.add_argument("--port", type=int, default=config.DEFAULT_DEVSERVER_PORT,
                      help=f"dev server port (default: {config.DEFAULT_DEVSERVER_PORT}; a free one if taken)")
    demo.add_argument("--db", type=Path, default=None, help="SQLite database of the dev server it starts")
    demo.add_argument("--api-key", default=None, help="API key of the dev server")
    demo.add_argument("--exit", action="store_true", help="stop right after printing, do not keep serving")
    demo.set_defaults(handler=demo_command)

    tasks = sub.add_parser("tasks", help="print recent tasks of a dev server as a table")
    tasks.add_argument("--server", default=config.DEFAULT_DEVSERVER_URL,
                       help=f"dev server URL (default: {config.DEFAULT_DEVSERVER_URL})")
    tasks.add_argument("--agent", default=None, help="only this agent's tasks")
    tasks.add_argument("--status", choices=["completed", "failed"], default=None, help="only tasks with this status")
    tasks.add_argument("--limit", type=int, default=20, help="how many tasks (default: 20, at most 500)")
    tasks.add_argument("--api-key", default=None, help="API key of the dev server")
    tasks.set_defaults(handler=tasks_command)


def _server_extra_missing(command: str) -> int | None:
    for module in ("starlette", "uvicorn", "jinja2", "yaml", "platformdirs"):
        if importlib.util.find_spec(module) is None:
            print(f"xpander-otel {command}: {module} is missing: pip install 'xpander-otel[server]'", file=sys.stderr)
            return 2
    return None


def serve_command(args: argparse.Namespace) -> int:
    if (missing := _server_extra_missing("serve")) is not None:
        return missing
    import uvicorn

    from .agents import AgentsFileError
    from .app import ServerSettings, create_app

    db_path = args.db or config.default_devserver_db()
    try:
        app = create_app(ServerSettings(db_path=db_path, agents_file=args.agents, api_key=args.api_key))
    except AgentsFileError as exc:
        print(f"xpander-otel serve: {exc}", file=sys.stderr)
        return 2
    print(f"xpander-otel dev server on http://{args.host}:{args.port}  (database: {db_path})", flush=True)
    # Workers' event streams stay open: give them a second to end on shutdown, then close them.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=1)
    return 0


def demo_command(args: argparse.Namespace) -> int:
    if (missing := _server_extra_missing("demo")) is not None:
        return missing
    from ..errors import ModuleException
    from .demo import run_demo

    db_path = args.db or config.default_devserver_db()
    try:
        task = run_demo(port=args.port, db_path=db_path, api_key=args.api_key, keep_serving=not args.exit)
    except ModuleException as exc:
        print(f"xpander-otel demo: the dev server answered {exc} (a server started with --api-key needs "
              "the same --api-key here)", file=sys.stderr)
        return 1
    return 0 if task.status == "completed" else 1


def tasks_command(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.agent:
        params["agent_id"] = args.agent
    if args.status:
        params["status"] = args.status
    headers = {"x-api-key": args.api_key} if args.api_key else {}
    url = f"{args.server.rstrip('/')}/tasks"
    try:
        response = httpx.get(url, params=params, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        print(f"xpander-otel tasks: cannot reach {args.server}: {exc} (is `xpander-otel serve` running?)",
              file=sys.stderr)
        return 1
    if response.is_error:
        print(f"xpander-otel tasks: {response.status_code} from {url}: {_detail(response)}", file=sys.stderr)
        return 1
    page = response.json()
    print(format_tasks_table(page["items"]))
    print(f"{len(page['items'])} of {page['total']} task(s)")
    return 0


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except (ValueError, AttributeError):
        return response.text[:200]


COLUMNS = ("TIME (UTC)", "AGENT", "STATUS", "TOKENS", "TOOLS", "DURATION", "RESULT", "ID")


def format_tasks_table(tasks: list[dict[str, Any]], result_width: int = 40) -> str:
    """Tasks as a plain-text table, one row each, columns padded to their widest cell."""
    rows = [COLUMNS]
    for task in tasks:
        result = (task.get("result") or "").replace("\n", " ")
        if len(result) > result_width:
            result = result[: result_width - 1] + "…"
        duration = task.get("duration")
        rows.append((
            (task.get("created_at") or "")[:19].replace("T", " "),
            task.get("agent_id") or "",
            task.get("status") or "",
            str((task.get("tokens") or {}).get("total_tokens") or 0),
            ",".join(task.get("used_tools") or []),
            f"{duration:.2f}s" if duration is not None else "",
            result,
            task.get("id") or "",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
