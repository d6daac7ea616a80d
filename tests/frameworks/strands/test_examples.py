"""examples/frameworks/strands_agent.py run by its own first-line command against a dev server process."""

from __future__ import annotations

from _examples import ANSWER, EXAMPLES, assert_weather_task, run_example, tasks_of, weather_agent


def test_the_strands_example_reports_its_run_as_one_task(devserver, tmp_path):
    agent = weather_agent(devserver, "strands-agents")
    done = run_example(EXAMPLES / "frameworks" / "strands_agent.py", devserver, agent["id"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"
    [task] = tasks_of(devserver, agent["id"])
    # The instrumentor reports Strands' own text of the result, str(AgentResult), which ends in a newline.
    assert_weather_task(task, agent["id"], result=ANSWER + "\n")
