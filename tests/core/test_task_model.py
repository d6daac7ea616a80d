"""``Task`` as @on_task handlers get it: message, configuration, wire body."""

from __future__ import annotations

from xpander_otel import Configuration, Task


def test_to_message_is_the_text_then_the_files():
    task = Task(id="t", input={"text": "Summarize", "files": ["https://x/a.pdf", "https://x/b.csv"]})
    assert task.to_message() == "Summarize\nFiles: https://x/a.pdf, https://x/b.csv"
    assert Task(id="t", input={"files": ["https://x/a.pdf"]}).to_message() == "Files: https://x/a.pdf"
    assert Task(id="t", input="plain").to_message() == "plain"


def test_configuration_travels_with_the_task_but_never_on_the_wire_or_in_its_repr():
    secret = "sk-config-secret-123456"
    task = Task(id="t", agent_id="a", configuration=Configuration(api_key=secret, organization_id="o"),
                custom_field={"kept": True})

    assert task.configuration.organization_id == "o"
    assert "configuration" not in task.to_wire()
    assert task.to_wire()["custom_field"] == {"kept": True}
    assert secret not in repr(task) and secret not in task.model_dump_json()
