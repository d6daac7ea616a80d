"""An xpander-sdk ``@on_task`` worker, unchanged from the SDK's docs: run as a script by the tests."""

from xpander_sdk import Task, Tokens, on_task


@on_task
async def handle(task: Task) -> Task:
    if task.input.text == "fail":
        raise RuntimeError("the SDK handler failed on purpose")
    task.result = f"sdk worker: {task.input.text}"
    task.tokens = Tokens(prompt_tokens=5, completion_tokens=2)
    task.used_tools = ["get_weather"]
    return task
