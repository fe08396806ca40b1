"""The run-completed event's ``detail``, built from a Dograh workflow run.

The fields are the variables Dograh's own ``_build_render_context``
(``api/tasks/run_integrations.py``) gives webhook templates, under the same
names and with the same values, plus what the delivery pipeline needs beside
them: ``organization_id`` (it scopes credentials) and ``workflow_definition``
(the webhook nodes). The event then renders, in the pipeline, exactly what
Dograh would have rendered in-process.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

#: EventBridge refuses an entry over 256 KB (Source + DetailType + Detail, UTF-8).
MAX_ENTRY_BYTES = 256 * 1024

#: The key under which this package records a published run in the run's
#: annotations; never sent in an event.
RESULT_KEY = "eventbridge_webhooks"


class EventTooLargeError(ValueError):
    """The event is over EventBridge's limit even with the workflow cut to its webhook nodes."""

    def __init__(self, workflow_run_id: Any, size: int, largest: list[tuple[str, int]]):
        self.workflow_run_id = workflow_run_id
        self.size = size
        self.largest = largest
        fields = ", ".join(f"{name} {n} bytes" for name, n in largest)
        super().__init__(
            f"workflow run {workflow_run_id}: the run-completed event is {size} bytes even with "
            f"workflow_definition cut to its webhook nodes; EventBridge takes at most {MAX_ENTRY_BYTES} "
            f"(largest fields: {fields})"
        )


def recording_storage_key(extra: Any, track: str) -> str | None:
    """The storage key of one recording track in a run's ``extra``, as Dograh reads it.

    ``extra.recordings.<track>`` is either the key itself or ``{"storage_key": ...}``.
    """
    recordings = extra.get("recordings", {}) if isinstance(extra, Mapping) else {}
    if not isinstance(recordings, Mapping):
        return None
    artifact = recordings.get(track)
    if isinstance(artifact, Mapping):
        artifact = artifact.get("storage_key")
    return artifact if isinstance(artifact, str) else None


def build_detail(
    run: Any,
    *,
    organization_id: Any,
    workflow_definition: Mapping[str, Any] | None,
    public_token: str | None,
    backend_api_endpoint: str,
    retry_policy: Mapping[str, int] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> dict[str, Any]:
    """The event detail of one completed run.

    ``run`` is Dograh's ``WorkflowRunModel`` (any object with its attributes).
    With a public token, the recording and transcript fields are Dograh's public
    download links, as in Dograh's render context; without one, the stored values.
    With ``retry_policy``, webhook nodes without a ``retry_config`` get it
    (``with_retry_policy``), so the pipeline retries them as Dograh does.
    """
    extra = getattr(run, "extra", None) or {}
    workflow = getattr(run, "workflow", None)
    created_at = getattr(run, "created_at", None) or now()
    annotations = dict(getattr(run, "annotations", None) or {})
    # This package's own bookkeeping, from an earlier attempt of the same run, is not run data.
    annotations.pop(RESULT_KEY, None)
    user_key = recording_storage_key(extra, "user")
    bot_key = recording_storage_key(extra, "bot")

    detail: dict[str, Any] = {
        "organization_id": organization_id,
        "workflow_run_id": getattr(run, "id", None),
        "workflow_run_name": getattr(run, "name", None),
        "workflow_id": getattr(run, "workflow_id", None),
        "workflow_name": getattr(workflow, "name", None) if workflow is not None else None,
        "campaign_id": getattr(run, "campaign_id", None),
        "call_time": created_at.isoformat(),
        "initial_context": getattr(run, "initial_context", None) or {},
        "gathered_context": getattr(run, "gathered_context", None) or {},
        "cost_info": getattr(run, "usage_info", None) or {},
        "annotations": annotations,
        "extra": extra,
    }
    if public_token:
        base = f"{backend_api_endpoint}/api/v1/public/download/workflow/{public_token}"
        detail["recording_url"] = f"{base}/recording" if getattr(run, "recording_url", None) else None
        detail["transcript_url"] = f"{base}/transcript" if getattr(run, "transcript_url", None) else None
        detail["user_recording_url"] = f"{base}/user_recording" if user_key else None
        detail["bot_recording_url"] = f"{base}/bot_recording" if bot_key else None
    else:
        detail["recording_url"] = getattr(run, "recording_url", None)
        detail["transcript_url"] = getattr(run, "transcript_url", None)
        detail["user_recording_url"] = user_key
        detail["bot_recording_url"] = bot_key
    # A missing name renders "" in Dograh, as an absent field does in the pipeline,
    # whose event schema takes these two as strings only.
    for name in ("workflow_run_name", "workflow_name"):
        if detail[name] is None:
            del detail[name]
    detail["workflow_definition"] = with_retry_policy(workflow_definition or {"nodes": [], "edges": []}, retry_policy)
    return detail


def with_retry_policy(definition: Mapping[str, Any], policy: Mapping[str, int] | None) -> dict[str, Any]:
    """The definition with Dograh's own delivery policy on every webhook node that has none.

    Dograh retries every delivery (``DEFAULT_WEBHOOK_DELIVERY_CONFIG``: 5 attempts,
    exponential from 30 s, capped at 600 s, 30 s timeout by default); its webhook
    node has no field for it. The pipeline gives a node without ``retry_config``
    one attempt only, so without this a cut-over would quietly drop Dograh's retries.
    ``policy`` keys: max_attempts, base_delay_seconds, max_delay_seconds, timeout_seconds.
    """
    out = dict(definition)
    if not policy or not isinstance(definition.get("nodes"), list):
        return out
    retry = {
        "max_attempts": max(1, min(25, int(policy["max_attempts"]))),
        "backoff": "exponential",
        "initial_delay_seconds": max(1, int(policy["base_delay_seconds"])),
        "max_delay_seconds": max(1, min(43200, int(policy["max_delay_seconds"]))),
    }
    timeout = int(policy["timeout_seconds"])
    nodes = []
    for node in definition["nodes"]:
        data = node.get("data") if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and node.get("type") == "webhook" and isinstance(data, Mapping):
            data = dict(data)
            if data.get("retry_config") is None:
                data["retry_config"] = dict(retry)
            if data.get("timeout_seconds") is None and 1 <= timeout <= 30:
                data["timeout_seconds"] = timeout
            node = {**node, "data": data}
        nodes.append(node)
    out["nodes"] = nodes
    return out


def encode_detail(detail: Mapping[str, Any]) -> str:
    """The Detail string of a PutEvents entry: compact JSON, UTF-8 left unescaped (fewer bytes)."""
    # default=str: a value JSON has no type for (a datetime, a Decimal) becomes its str(),
    # the text Dograh's renderer would have printed for it.
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)


def entry_bytes(source: str, detail_type: str, detail_json: str) -> int:
    """An entry's size as EventBridge counts it (no Resources, no Time)."""
    return len(source.encode()) + len(detail_type.encode()) + len(detail_json.encode())


def webhook_nodes_only(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow definition cut to what the pipeline reads: its ``webhook`` nodes."""
    nodes = definition.get("nodes") if isinstance(definition, Mapping) else None
    kept = [n for n in nodes or [] if isinstance(n, Mapping) and n.get("type") == "webhook"]
    return {"nodes": kept, "edges": []}


def fit_detail(detail: Mapping[str, Any], source: str, detail_type: str) -> tuple[str, bool]:
    """The encoded detail, under the entry limit: whole if it fits, else with the
    workflow definition cut to its webhook nodes. Returns (detail JSON, cut?);
    raises EventTooLargeError when even the cut one is over the limit."""
    whole = encode_detail(detail)
    if entry_bytes(source, detail_type, whole) <= MAX_ENTRY_BYTES:
        return whole, False
    cut_detail = {**detail, "workflow_definition": webhook_nodes_only(detail.get("workflow_definition") or {})}
    cut = encode_detail(cut_detail)
    size = entry_bytes(source, detail_type, cut)
    if size <= MAX_ENTRY_BYTES:
        return cut, True
    sizes = sorted(((k, len(encode_detail(v).encode())) for k, v in cut_detail.items()), key=lambda kv: -kv[1])
    raise EventTooLargeError(detail.get("workflow_run_id"), size, sizes[:3])
