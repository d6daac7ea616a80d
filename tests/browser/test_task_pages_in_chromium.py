"""The task pages in real headless Chromium (Debian's ``chromium``, driven by Playwright): what a person sees.

Screenshots go to ``test-output/``. The ``browser`` nox session installs Chromium when it is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from xpander_otel import Tokens

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def reported(devserver):
    """Two tasks of a fresh agent: a successful run with tools, then a failed one (the newest)."""
    agent = devserver.create_agent("Browser Weather Agent")
    backend = devserver.backend()
    backend.report_external_task(
        agent_id=agent["id"], id=f"ok-{agent['id']}", input="What is the weather in Paris?",
        result="It is sunny in Paris, 22 degrees.", tokens=Tokens(prompt_tokens=130, completion_tokens=22),
        used_tools=["get_weather", "get_forecast"], duration=2.5,
        llm_response={"model": "scripted-weather", "finish_reason": "stop", "trace_id": "0af7651916cd43dd8448eb211c80319c"},
    )
    backend.report_external_task(
        agent_id=agent["id"], id=f"bad-{agent['id']}", input="And in Atlantis?", result="city not found: Atlantis",
        tokens=Tokens(prompt_tokens=10, completion_tokens=5), is_success=False, duration=0.4,
    )
    tasks = {t["id"]: t for t in httpx.get(f"{devserver.url}/tasks", params={"agent_id": agent["id"]}).json()["items"]}
    return agent, tasks


def _when(task: dict) -> str:
    return task["created_at"][:19].replace("T", " ")


def test_task_list_shows_the_reported_runs(devserver, page, reported):
    agent, tasks = reported
    ok, bad = tasks[f"ok-{agent['id']}"], tasks[f"bad-{agent['id']}"]
    page.goto(f"{devserver.url}/?agent={agent['id']}")

    expect(page).to_have_title("Tasks · xpander-otel dev server")
    rows = page.locator("tr.task")
    expect(rows).to_have_count(2)
    assert rows.nth(0).locator("td").all_inner_texts() == [
        _when(bad), "Browser Weather Agent", "And in Atlantis?", "city not found: Atlantis", "failed", "15", "", "0.40 s"]
    assert rows.nth(1).locator("td").all_inner_texts() == [
        _when(ok), "Browser Weather Agent", "What is the weather in Paris?", "It is sunny in Paris, 22 degrees.",
        "completed", "152", "get_weather, get_forecast", "2.50 s"]
    expect(page.locator("h1")).to_have_text("Tasks 2")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "task-list.png", full_page=True)

    # The filter form: choosing "failed" leaves the failed run only.
    page.select_option("select[name=status]", "failed")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("city not found: Atlantis")
    assert page.url == f"{devserver.url}/?agent={agent['id']}&status=failed"


def test_detail_page_shows_every_field_of_the_report(devserver, page, reported):
    agent, tasks = reported
    ok = tasks[f"ok-{agent['id']}"]
    page.goto(f"{devserver.url}/?agent={agent['id']}")
    row = page.locator("tr.task", has_text="What is the weather in Paris?")
    row.get_by_role("link", name=_when(ok)).click()

    expect(page).to_have_url(f"{devserver.url}/tasks/{ok['id']}/view")
    expect(page.locator("h1")).to_have_text(f"Task {ok['id']} completed")
    fields = dict(zip(page.locator("dl.fields dt").all_inner_texts(), page.locator("dl.fields dd").all_inner_texts(),
                      strict=True))
    assert fields["Agent"] == f"Browser Weather Agent {agent['id']} (version 1)"
    assert fields["Success"] == "yes"
    assert fields["Duration"] == "2.50 s"
    assert fields["Tokens"].split() == ["prompt", "130", "completion", "22", "total", "152", "cache", "read", "0",
                                        "cache", "write", "0"]
    assert page.locator("span.tool").all_inner_texts() == ["get_weather", "get_forecast"]
    blocks = page.locator("pre.block").all_inner_texts()
    assert blocks[:2] == ["What is the weather in Paris?", "It is sunny in Paris, 22 degrees."]
    assert blocks[2] == (
        '{\n  "finish_reason": "stop",\n  "model": "scripted-weather",\n'
        '  "trace_id": "0af7651916cd43dd8448eb211c80319c"\n}'
    )
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "task-detail.png", full_page=True)

    page.get_by_role("link", name="this task as JSON").click()
    assert json.loads(page.locator("pre").first.inner_text()) == httpx.get(f"{devserver.url}/tasks/{ok['id']}").json()
