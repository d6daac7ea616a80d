"""examples/frameworks/agno_agent.py run by its own first-line command against a dev server process."""

from __future__ import annotations

from _examples import ANSWER, EXAMPLES, assert_weather_task, run_example, tasks_of, weather_agent


def test_the_agno_example_reports_its_run_as_one_task(devserver, tmp_path):
    agent = weather_agent(devserver, "agno")
    done = run_example(EXAMPLES / "frameworks" / "agno_agent.py", devserver, agent["id"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"
    [task] = tasks_of(devserver, agent["id"])
    assert_weather_task(task, agent["id"])


def test_the_zero_code_example_is_reported_by_opentelemetry_instrument(devserver, tmp_path):
    agent = weather_agent(devserver, "agno")
    done = run_example(EXAMPLES / "modes" / "zero_code.py", devserver, agent["id"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"
    [task] = tasks_of(devserver, agent["id"])
    assert_weather_task(task, agent["id"])


def test_the_own_tracer_provider_example_feeds_xpander_and_the_console(devserver, tmp_path):
    agent = weather_agent(devserver, "agno")
    done = run_example(EXAMPLES / "modes" / "own_tracer_provider.py", devserver, agent["id"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"
    # The user's own exporter got the same spans (the console exporter writes JSON per span).
    assert '"name": "invoke_agent ' in done.stderr
    assert '"name": "execute_tool get_weather"' in done.stderr
    [task] = tasks_of(devserver, agent["id"])
    assert_weather_task(task, agent["id"])
