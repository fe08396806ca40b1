"""Stand-ins for what only exists inside Dograh or AWS: a workflow run, a completion context, an events client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Callable

CREATED_AT = datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=timezone.utc)


def webhook_node(node_id: str, url: str, **data: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "webhook",
        "position": {"x": 0, "y": 0},
        "data": {"name": f"hook {node_id}", "enabled": True, "endpoint_url": url, "payload_template": {"run": "{{workflow_run_id}}"}, **data},
    }


def definition(*webhooks: dict[str, Any], prompt: str = "Say hello") -> dict[str, Any]:
    start = {"id": "start", "type": "startCall", "position": {"x": 0, "y": 0}, "data": {"name": "Greeting", "prompt": prompt}}
    return {"nodes": [start, *webhooks], "edges": [{"id": "e1", "source": "start", "target": "end"}], "viewport": {"x": 0, "y": 0, "zoom": 1}}


def make_run(**overrides: Any) -> SimpleNamespace:
    """A Dograh WorkflowRunModel as the completion handler sees it (the attributes it reads)."""
    fields: dict[str, Any] = dict(
        id=1234,
        name="Inbound call from +1 555 0100",
        workflow_id=77,
        workflow=SimpleNamespace(name="Support line"),
        campaign_id=9,
        created_at=CREATED_AT,
        initial_context={"customer_name": "Ada Lovelace"},
        gathered_context={"call_disposition": "resolved"},
        usage_info={"call_duration_seconds": 185.5},
        annotations={"qa_n1": {"score": 4}},
        extra={"recordings": {"user": "recordings/1234/user.wav", "bot": {"storage_key": "recordings/1234/bot.wav", "storage_backend": "s3"}}},
        recording_url="recordings/1234/mixed.wav",
        transcript_url="transcripts/1234.txt",
        logs={},
    )
    fields.update(overrides)
    return SimpleNamespace(**fields)


def make_context(run: Any = None, **overrides: Any) -> SimpleNamespace:
    """Dograh's IntegrationCompletionContext."""
    run = run if run is not None else make_run()
    fields: dict[str, Any] = dict(
        workflow_run_id=run.id,
        workflow_run=run,
        workflow_definition=definition(webhook_node("n1", "https://crm.example.com/hook")),
        definition_id=5,
        organization_id=42,
        public_token="tok-abc",
    )
    fields.update(overrides)
    return SimpleNamespace(**fields)


Responder = Callable[[list[dict[str, Any]], int], dict[str, Any]]


def accept_all(entries: list[dict[str, Any]], _call: int) -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": f"ev-{i}"} for i, _ in enumerate(entries)]}


@dataclass
class FakeEventsClient:
    """Answers put_events as told, recording every request."""

    respond: Responder = accept_all
    calls: list[list[dict[str, Any]]] = field(default_factory=list)

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(Entries)
        return self.respond(Entries, len(self.calls))
