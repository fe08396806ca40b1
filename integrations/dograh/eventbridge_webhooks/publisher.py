"""PutEvents, in batches, with the failed entries of a batch tried again.

EventBridge takes at most 10 entries and 256 KB per request, and may accept a
request while refusing some of its entries (``FailedEntryCount``). Entries that
failed for a reason that can pass (throttling, an internal failure) are sent
again, up to ``max_attempts`` in all; entries refused for what they are (bad
detail, unknown bus, no permission) are not. Sending an entry twice is safe:
the pipeline's delivery ids are one per run and node, so a duplicate event is
dropped when it is delivered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .detail import MAX_ENTRY_BYTES, EventTooLargeError, entry_bytes, fit_detail

MAX_ENTRIES_PER_REQUEST = 10

#: Entry error codes that no retry can fix.
PERMANENT_ERRORS = frozenset(
    {
        "MalformedDetail",
        "InvalidArgument",
        "ValidationException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "NotAuthorizedForSourceException",
        "NotAuthorizedForDetailTypeException",
    }
)


@dataclass(frozen=True)
class PublishOutcome:
    """What became of one detail: an event id, or why there is none."""

    index: int
    workflow_run_id: Any
    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    #: The workflow definition was cut to its webhook nodes to fit the limit.
    cut: bool = False

    @property
    def published(self) -> bool:
        return self.event_id is not None


@dataclass
class _Entry:
    index: int
    run_id: Any
    request: dict[str, str]
    size: int
    cut: bool
    attempts: int = 0


class Publisher:
    """Sends run-completed details to one bus through a boto3 ``events`` client (or anything with its ``put_events``)."""

    def __init__(
        self,
        client: Any,
        *,
        bus_name: str,
        source: str,
        detail_type: str,
        max_attempts: int = 3,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._client = client
        self._bus = bus_name
        self._source = source
        self._detail_type = detail_type
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def publish(self, details: Sequence[Mapping[str, Any]]) -> list[PublishOutcome]:
        """One outcome per detail, in order. Never raises for one bad detail or one failed request."""
        outcomes: dict[int, PublishOutcome] = {}
        entries: list[_Entry] = []
        for index, detail in enumerate(details):
            run_id = detail.get("workflow_run_id")
            try:
                detail_json, cut = fit_detail(detail, self._source, self._detail_type)
            except EventTooLargeError as error:
                outcomes[index] = PublishOutcome(index, run_id, error_code="EventTooLarge", error_message=str(error))
                continue
            except ValueError as error:  # NaN or infinity: not JSON
                outcomes[index] = PublishOutcome(index, run_id, error_code="NotJson", error_message=f"workflow run {run_id}: the detail is not JSON: {error}")
                continue
            request = {"Source": self._source, "DetailType": self._detail_type, "Detail": detail_json, "EventBusName": self._bus}
            entries.append(_Entry(index, run_id, request, entry_bytes(self._source, self._detail_type, detail_json), cut))
        for batch in batches(entries):
            for entry, outcome in self._send(batch):
                outcomes[entry.index] = outcome
        return [outcomes[i] for i in range(len(details))]

    def _send(self, batch: list[_Entry]) -> list[tuple[_Entry, PublishOutcome]]:
        done: list[tuple[_Entry, PublishOutcome]] = []
        pending = batch
        attempt = 0
        while pending:
            attempt += 1
            for entry in pending:
                entry.attempts = attempt
            retry: list[tuple[_Entry, str, str]] = []
            try:
                response = self._client.put_events(Entries=[e.request for e in pending])
            except Exception as error:  # the whole request failed (after botocore's own retries)
                code = _error_code(error)
                results = [{"ErrorCode": code, "ErrorMessage": str(error)} for _ in pending]
            else:
                results = list(response.get("Entries") or [])
                if len(results) != len(pending):
                    results = [{"ErrorCode": "InternalFailure", "ErrorMessage": "PutEvents answered a different number of entries"} for _ in pending]
            for entry, result in zip(pending, results):
                event_id = result.get("EventId")
                if event_id:
                    done.append((entry, self._outcome(entry, event_id=event_id)))
                    continue
                code = result.get("ErrorCode") or "InternalFailure"
                message = result.get("ErrorMessage") or ""
                if code in PERMANENT_ERRORS or attempt >= self._max_attempts:
                    done.append((entry, self._outcome(entry, error_code=code, error_message=message)))
                else:
                    retry.append((entry, code, message))
            pending = [entry for entry, _, _ in retry]
            if pending:
                self._sleep(self._backoff * 2 ** (attempt - 1))
        return done

    @staticmethod
    def _outcome(entry: _Entry, **fields: Any) -> PublishOutcome:
        return PublishOutcome(entry.index, entry.run_id, attempts=entry.attempts, cut=entry.cut, **fields)


def batches(entries: list[_Entry]) -> list[list[_Entry]]:
    """Consecutive groups of at most 10 entries and 256 KB in all, in order."""
    groups: list[list[_Entry]] = []
    current: list[_Entry] = []
    size = 0
    for entry in entries:
        if current and (len(current) == MAX_ENTRIES_PER_REQUEST or size + entry.size > MAX_ENTRY_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.size
    if current:
        groups.append(current)
    return groups


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__
