"""The Backend guide's shape: a module whose ``@on_task`` handler starts the worker when run as a script."""

from xpander_otel import Task, on_task


@on_task
async def handle_agent_task(task: Task) -> Task:
    task.result = f"guide: {task.to_message()} ({task.configuration.organization_id})"
    return task
