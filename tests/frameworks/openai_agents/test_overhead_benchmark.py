"""CI smoke run of benchmarks/bench_overhead.py on the OpenAI Agents SDK: it runs and counts the spans each mode emits."""

from __future__ import annotations

from _overhead_smoke import check_paired, run_overhead_smoke, run_paired_smoke


def test_overhead_benchmark_runs_bare_and_ours(tmp_path):
    result = run_overhead_smoke("openai_agents", tmp_path)
    assert result["framework"] == "openai_agents" and result["rounds"] == 1
    tool_call, ten_steps = result["workloads"]["tool_call"], result["workloads"]["ten_steps"]
    assert (tool_call["bare"]["spans_per_run"], tool_call["bare"]["complete_spans_per_run"]) == (0, 0)
    # invoke_agent, chat (tool call), execute_tool, chat (answer): every chat span carries its tokens.
    assert (tool_call["ours"]["spans_per_run"], tool_call["ours"]["complete_spans_per_run"]) == (4, 4)
    assert (ten_steps["ours"]["spans_per_run"], ten_steps["ours"]["complete_spans_per_run"]) == (22, 22)
    assert "added_us_per_run" in tool_call["ours"] and tool_call["bare"]["cpu_us_per_run"] > 0
    ours = tool_call["ours"]
    assert ours["main_thread_cpu_us_per_run"] > 0 and ours["other_threads_cpu_us_per_run"] >= 0
    assert tool_call["ours"]["added_us_per_run_best"] == (tool_call["ours"]["cpu_us_per_run_best"]
                                                         - tool_call["bare"]["cpu_us_per_run_best"])


def test_overhead_benchmark_paired_design_switches_ours_on_and_off(tmp_path):
    result = run_paired_smoke("openai_agents", tmp_path)
    assert result["framework"] == "openai_agents"
    check_paired(result)
