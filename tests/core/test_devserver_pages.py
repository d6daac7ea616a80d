"""The task pages as served HTML: the list (filters, paging, newest first) and the detail page."""

from __future__ import annotations

import json
import re

import httpx
from markupsafe import escape

from xpander_otel import Tokens


def _rows(page_html: str) -> list[str]:
    """Task ids of the list page's rows, top to bottom."""
    return re.findall(r'<tr class="task" data-task-id="([^"]+)">', page_html)


def _report(devserver, agent_id: str, task_id: str, **fields) -> None:
    devserver.backend().report_external_task(agent_id=agent_id, id=task_id, **fields)


def test_list_page_shows_every_column_of_a_task(devserver):
    agent = devserver.create_agent("Page Agent")
    _report(devserver, agent["id"], "page-task-1", input="Weather in Oslo?", result="Cold and clear in Oslo.",
            tokens=Tokens(prompt_tokens=130, completion_tokens=22), used_tools=["get_weather", "get_time"],
            duration=2.5)

    response = httpx.get(f"{devserver.url}/", params={"agent": agent["id"]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert _rows(page) == ["page-task-1"]
    row = page[page.index('data-task-id="page-task-1"'):page.index("</tr>", page.index('data-task-id="page-task-1"'))]
    for text in ("Page Agent", "Weather in Oslo?", "Cold and clear in Oslo.", ">completed<", ">152<",
                 "get_weather, get_time", "2.50 s", 'href="/tasks/page-task-1/view"'):
        assert text in row, text
    assert '<span class="count">1</span>' in page


def test_detail_page_shows_all_report_fields_and_pretty_llm_response(devserver):
    agent = devserver.create_agent("Detail Agent")
    llm_response = {"model": "gpt-4.1", "content": "It is sunny.", "finish_reason": "stop",
                    "usage": {"prompt_tokens": 80, "completion_tokens": 12}, "trace_id": "ab" * 16}
    _report(devserver, agent["id"], "detail-1", input="Weather?", result="It is sunny.", is_success=False,
            tokens=Tokens(prompt_tokens=80, completion_tokens=12, cache_read_tokens=40, cache_write_tokens=5),
            used_tools=["get_weather"], duration=1.25, llm_response=llm_response)

    page = httpx.get(f"{devserver.url}/tasks/detail-1/view").text
    for text in ("Detail Agent", f"<code>{agent['id']}</code>", "(version 1)", ">failed<", "<dd>no</dd>",
                 "1.25 s", "prompt <b>80</b>", "completion <b>12</b>", "total <b>92</b>",
                 "cache read <b>40</b>", "cache write <b>5</b>", '<span class="tool">get_weather</span>',
                 '<pre class="block">Weather?</pre>', '<pre class="block">It is sunny.</pre>',
                 'href="/tasks/detail-1"'):
        assert text in page, text
    pretty = escape(json.dumps(llm_response, indent=2, sort_keys=True))
    assert "\n  &#34;finish_reason&#34;: &#34;stop&#34;,\n" in pretty  # pretty-printed, escaped as Jinja does
    assert f'<pre class="block json">{pretty}</pre>' in page


def test_list_filters_by_agent_and_status_and_pages_newest_first(devserver):
    agent = devserver.create_agent("Filter Agent")
    other = devserver.create_agent("Other Agent")
    ids = [f"f-{agent['id']}-{n:02d}" for n in range(30)]
    for n, task_id in enumerate(ids):
        _report(devserver, agent["id"], task_id, result=f"r{n}", is_success=n % 10 != 3)
    _report(devserver, other["id"], f"f-other-{other['id']}", result="other")

    first = httpx.get(f"{devserver.url}/", params={"agent": agent["id"]}).text
    assert _rows(first) == ids[::-1][:25]
    assert "page 1 of 2" in first
    assert f'href="/?agent={agent["id"]}&amp;page=2"' in first
    second = httpx.get(f"{devserver.url}/", params={"agent": agent["id"], "page": 2}).text
    assert _rows(second) == ids[::-1][25:]
    assert "page 2 of 2" in second

    failed = httpx.get(f"{devserver.url}/", params={"agent": agent["id"], "status": "failed"}).text
    assert _rows(failed) == [ids[23], ids[13], ids[3]]
    assert f'<option value="{agent["id"]}" selected>Filter Agent</option>' in failed
    assert '<option value="failed" selected>failed</option>' in failed

    everyone = _rows(httpx.get(f"{devserver.url}/").text)
    assert everyone[0] == f"f-other-{other['id']}"  # the newest task of any agent comes first


def test_pages_escape_reported_text(devserver):
    agent = devserver.create_agent("Escaper")
    _report(devserver, agent["id"], "xss-1", input="<script>alert(1)</script>", result="<b>bold</b>")
    for url in (f"{devserver.url}/?agent={agent['id']}", f"{devserver.url}/tasks/xss-1/view"):
        page = httpx.get(url).text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<b>bold</b>" not in page


def test_unknown_task_page_and_bad_filters_answer_html_errors(devserver):
    missing = httpx.get(f"{devserver.url}/tasks/nope/view")
    assert missing.status_code == 404
    assert "There is no task with id nope." in missing.text
    bad = httpx.get(f"{devserver.url}/", params={"status": "weird"})
    assert bad.status_code == 400
    assert "query parameter &#39;status&#39; must be one of completed, failed" in bad.text


def test_stylesheet_is_served(devserver):
    response = httpx.get(f"{devserver.url}/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert ".status.completed" in response.text
