"""Everything that needs Dograh's own code, imported only inside Dograh.

Kept apart so the rest of the package imports and tests without Dograh.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .settings import ProducerSettings


def with_dograh_constants(settings: ProducerSettings) -> ProducerSettings:
    """Inside Dograh, its own BACKEND_API_ENDPOINT (the origin of its public links) and
    DEFAULT_WEBHOOK_DELIVERY_CONFIG (its retries), rather than our reading of the same variables."""
    try:
        from api.constants import BACKEND_API_ENDPOINT, DEFAULT_WEBHOOK_DELIVERY_CONFIG
    except ImportError:
        return settings
    policy = None if settings.retry_policy is None else {k: int(DEFAULT_WEBHOOK_DELIVERY_CONFIG[k]) for k in settings.retry_policy}
    return dataclasses.replace(settings, backend_api_endpoint=BACKEND_API_ENDPOINT, retry_policy=policy)


async def dograh_started_delivering(workflow_run_id: int) -> bool:
    """Whether Dograh has a webhook delivery row for this run already (created by an earlier attempt of its task)."""
    try:
        from sqlalchemy import select

        from api.db import db_client
        from api.db.models import WebhookDeliveryModel
    except ImportError:
        return False
    async with db_client.async_session() as session:
        result = await session.execute(
            select(WebhookDeliveryModel.id).where(WebhookDeliveryModel.workflow_run_id == workflow_run_id).limit(1)
        )
        return result.first() is not None


def webhook_node_registration() -> Any:
    """Registers Dograh's own ``webhook`` node type for this package.

    Dograh hands a package's ``run_completion`` only the nodes of the types the
    package registers (``iter_completion_packages``). Registering ``webhook``
    with Dograh's own data model and the spec Dograh builds from it changes no
    lookup: Dograh resolves core types first, and the spec is the same.
    """
    from api.services.integrations.base import IntegrationNodeRegistration
    from api.services.workflow.dto import WebhookNodeData
    from api.services.workflow.node_specs.model_spec import build_spec

    return IntegrationNodeRegistration(type_name="webhook", data_model=WebhookNodeData, node_spec=build_spec(WebhookNodeData))
