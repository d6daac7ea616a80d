"""examples/frameworks/google_adk_agent.py run by its own first-line command against a dev server process."""

from __future__ import annotations

from _examples import ANSWER, EXAMPLES, assert_weather_task, run_example, tasks_of, weather_agent


def test_the_google_adk_example_reports_its_run_as_one_task(devserver, tmp_path):
    agent = weather_agent(devserver, "google-adk")
    done = run_example(EXAMPLES / "frameworks" / "google_adk_agent.py", devserver, agent["id"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"
    [task] = tasks_of(devserver, agent["id"])
    assert_weather_task(task, agent["id"])
