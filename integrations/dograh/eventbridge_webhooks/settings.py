"""The producer's settings, read from the environment of Dograh's worker.

Nothing else in this package reads ``os.environ``: every other module takes a
``ProducerSettings``, so tests build their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

#: Who sends a run's webhooks: ``dograh`` (default, Dograh itself, the producer
#: does nothing), ``shadow`` (Dograh still sends; the producer also publishes
#: each run under the shadow detail-type, which the stack's rule does not
#: match), ``eventbridge`` (the producer publishes; Dograh skips the runs whose
#: event was accepted, see ``run_integrations.patch``).
MODE_VAR = "DOGRAH_WEBHOOKS_DELIVERY"
MODES = ("dograh", "shadow", "eventbridge")

DEFAULT_SOURCE = "dograh.workflows"
DEFAULT_DETAIL_TYPE = "Workflow Run Completed"
DEFAULT_SHADOW_DETAIL_TYPE = "Workflow Run Completed (shadow)"

#: Dograh's delivery defaults (api/constants.py DEFAULT_WEBHOOK_DELIVERY_CONFIG) and the
#: variables that change them there; inside Dograh its own dict is read instead.
DOGRAH_DELIVERY_DEFAULTS = {"max_attempts": 5, "base_delay_seconds": 30, "max_delay_seconds": 600, "timeout_seconds": 30}
DOGRAH_DELIVERY_VARS = {
    "max_attempts": "WEBHOOK_DELIVERY_MAX_ATTEMPTS",
    "base_delay_seconds": "WEBHOOK_DELIVERY_BASE_DELAY_SECONDS",
    "max_delay_seconds": "WEBHOOK_DELIVERY_MAX_DELAY_SECONDS",
    "timeout_seconds": "WEBHOOK_DELIVERY_TIMEOUT_SECONDS",
}


class SettingsError(ValueError):
    """A setting in the environment is not usable; the message names the variable."""


@dataclass(frozen=True)
class ProducerSettings:
    mode: str = "dograh"
    bus_name: str = "default"
    source: str = DEFAULT_SOURCE
    detail_type: str = DEFAULT_DETAIL_TYPE
    shadow_detail_type: str = DEFAULT_SHADOW_DETAIL_TYPE
    endpoint_url: str | None = None
    region: str | None = None
    #: Attempts per PutEvents entry (the first one included), 1 to 10.
    max_attempts: int = 3
    #: Dograh's BACKEND_API_ENDPOINT: the origin of its public download links.
    backend_api_endpoint: str = "http://localhost:8000"
    #: Dograh's DEFAULT_WEBHOOK_DELIVERY_CONFIG, put on webhook nodes without a retry_config;
    #: None (DOGRAH_EVENTBRIDGE_KEEP_DOGRAH_RETRIES=false) sends the nodes as they are.
    retry_policy: Mapping[str, int] | None = field(default_factory=lambda: dict(DOGRAH_DELIVERY_DEFAULTS))

    @property
    def publishes(self) -> bool:
        return self.mode in ("shadow", "eventbridge")

    @property
    def effective_detail_type(self) -> str:
        return self.shadow_detail_type if self.mode == "shadow" else self.detail_type


def settings_from_env(environ: Mapping[str, str] | None = None) -> ProducerSettings:
    """Parses the environment, naming every bad variable at once."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def text(name: str, default: str | None) -> str | None:
        value = env.get(name, "").strip()
        return value or default

    mode = (text(MODE_VAR, "dograh") or "dograh").lower()
    if mode not in MODES:
        problems.append(f"{MODE_VAR} must be one of {', '.join(MODES)}, got {mode!r}")
    attempts_text = text("DOGRAH_EVENTBRIDGE_MAX_ATTEMPTS", "3") or "3"
    max_attempts = int(attempts_text) if attempts_text.isdigit() else 0
    if not 1 <= max_attempts <= 10:
        problems.append(f"DOGRAH_EVENTBRIDGE_MAX_ATTEMPTS must be a whole number from 1 to 10, got {attempts_text!r}")
    endpoint_url = text("DOGRAH_EVENTBRIDGE_ENDPOINT_URL", None)
    if endpoint_url is not None and not endpoint_url.startswith(("http://", "https://")):
        problems.append(f"DOGRAH_EVENTBRIDGE_ENDPOINT_URL must be an http or https URL, got {endpoint_url!r}")
    keep = (text("DOGRAH_EVENTBRIDGE_KEEP_DOGRAH_RETRIES", "true") or "true").lower()
    if keep not in ("true", "false"):
        problems.append(f"DOGRAH_EVENTBRIDGE_KEEP_DOGRAH_RETRIES must be true or false, got {keep!r}")
    policy: dict[str, int] = {}
    for key, name in DOGRAH_DELIVERY_VARS.items():
        value = text(name, str(DOGRAH_DELIVERY_DEFAULTS[key])) or ""
        if not value.isdigit() or int(value) < 1:
            problems.append(f"{name} must be a whole number of at least 1, got {value!r}")
        else:
            policy[key] = int(value)
    if problems:
        raise SettingsError("; ".join(problems))
    return ProducerSettings(
        mode=mode,
        bus_name=text("DOGRAH_EVENTBRIDGE_BUS_NAME", "default") or "default",
        source=text("DOGRAH_EVENTBRIDGE_SOURCE", DEFAULT_SOURCE) or DEFAULT_SOURCE,
        detail_type=text("DOGRAH_EVENTBRIDGE_DETAIL_TYPE", DEFAULT_DETAIL_TYPE) or DEFAULT_DETAIL_TYPE,
        shadow_detail_type=text("DOGRAH_EVENTBRIDGE_SHADOW_DETAIL_TYPE", DEFAULT_SHADOW_DETAIL_TYPE) or DEFAULT_SHADOW_DETAIL_TYPE,
        endpoint_url=endpoint_url,
        region=text("DOGRAH_EVENTBRIDGE_REGION", None),
        max_attempts=max_attempts,
        # The same fallbacks as Dograh's api.constants.BACKEND_API_ENDPOINT.
        backend_api_endpoint=text("BACKEND_API_ENDPOINT", None) or text("PUBLIC_BASE_URL", None) or "http://localhost:8000",
        retry_policy=policy if keep == "true" else None,
    )
