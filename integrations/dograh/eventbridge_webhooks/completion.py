"""The completion handler: one run-completed event per finished run.

Dograh calls ``run_completion(nodes, context)`` after QA and before its own
webhook step (``api/tasks/run_integrations.py``, step 6), with the run's
webhook nodes (this package registers the ``webhook`` node type for that).
The handler decides, per run, who sends the run's webhooks, and says so in
its return value, which Dograh merges into the run's annotations:

- ``{RESULT_KEY: {"status": "published", ...}}``: the event was accepted;
  the patched ``run_integrations.py`` then skips Dograh's own webhook step.
- ``{}``: Dograh sends them, as without this package: the mode is not
  ``eventbridge``, Dograh has already started this run's deliveries (a retried
  task), or the event could not be published (too large, refused, unreachable).

So every run is sent by exactly one of the two, and a failure here falls back
to Dograh rather than losing the run. Nothing is merged into annotations
unless the event was published, so Dograh's own payloads never change.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Mapping

from .detail import RESULT_KEY, build_detail
from .publisher import Publisher, PublishOutcome
from .settings import ProducerSettings, SettingsError, settings_from_env

try:  # Dograh logs with loguru; outside Dograh, the standard library's logging
    from loguru import logger as log
except ImportError:
    import logging

    log = logging.getLogger(__name__)

#: Whether Dograh has already created delivery rows for a run (then it finishes the run itself).
DeliveryCheck = Callable[[int], Awaitable[bool]]


def make_events_client(settings: ProducerSettings) -> Any:
    """A boto3 EventBridge client with bounded timeouts and botocore's standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("events", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config)


async def _never_started(_run_id: int) -> bool:
    return False


async def publish_run(
    context: Any,
    *,
    settings: ProducerSettings,
    client_factory: Callable[[ProducerSettings], Any] = make_events_client,
    dograh_started: DeliveryCheck = _never_started,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> dict[str, Any]:
    """The handler's work, with its dependencies as arguments (tests pass their own)."""
    if not settings.publishes:
        return {}
    run_id = context.workflow_run_id
    if settings.mode == "eventbridge" and await dograh_started(run_id):
        log.warning(f"workflow run {run_id}: Dograh already created deliveries for this run (a retried task); it finishes the run itself")
        return {}
    detail = build_detail(
        context.workflow_run,
        organization_id=context.organization_id,
        workflow_definition=context.workflow_definition,
        public_token=context.public_token,
        backend_api_endpoint=settings.backend_api_endpoint,
        retry_policy=settings.retry_policy,
        now=now,
    )
    publisher = Publisher(
        client_factory(settings),
        bus_name=settings.bus_name,
        source=settings.source,
        detail_type=settings.effective_detail_type,
        max_attempts=settings.max_attempts,
    )
    # boto3 blocks: off the event loop, as Dograh's other integrations do.
    [outcome] = await asyncio.to_thread(publisher.publish, [detail])
    return _result(outcome, settings, now)


def _result(outcome: PublishOutcome, settings: ProducerSettings, now: Callable[[], datetime]) -> dict[str, Any]:
    if not outcome.published:
        fallback = "Dograh sends this run's webhooks itself" if settings.mode == "eventbridge" else "shadow only, nothing changes"
        log.error(
            f"workflow run {outcome.workflow_run_id}: run-completed event not published after {outcome.attempts} attempt(s): "
            f"{outcome.error_code}: {outcome.error_message}; {fallback}"
        )
        return {}
    cut = ", workflow_definition cut to its webhook nodes" if outcome.cut else ""
    log.info(
        f"workflow run {outcome.workflow_run_id}: run-completed event {outcome.event_id} published "
        f"to bus {settings.bus_name} ({settings.effective_detail_type}){cut}"
    )
    if settings.mode != "eventbridge":
        return {}  # shadow: Dograh still sends, and its payloads must not see this
    return {
        RESULT_KEY: {
            "status": "published",
            "event_id": outcome.event_id,
            "bus": settings.bus_name,
            "published_at": now().isoformat(),
            "definition_cut_to_webhook_nodes": outcome.cut,
        }
    }


async def run_completion(nodes: list[dict[str, Any]], context: Any) -> dict[str, Any]:
    """Dograh's ``CompletionHandler``: never raises, so a failure here is Dograh's fallback, not a lost run."""
    try:
        settings = settings_from_env()
    except SettingsError as error:
        log.error(f"eventbridge_webhooks: {error}; Dograh sends webhooks itself")
        return {}
    try:
        from . import dograh_glue

        settings = dograh_glue.with_dograh_constants(settings)
        return await publish_run(context, settings=settings, dograh_started=dograh_glue.dograh_started_delivering)
    except Exception:  # noqa: BLE001 - anything unforeseen: Dograh delivers, with the reason in the log
        run_id = getattr(context, "workflow_run_id", "?")
        log.exception(f"workflow run {run_id}: the EventBridge producer failed; Dograh sends this run's webhooks itself")
        return {}
