"""eventbridge_webhooks: Dograh's webhook nodes, delivered by the EventBridge pipeline.

Copy this folder to ``api/services/integrations/eventbridge_webhooks/`` in
Dograh; its loader imports it and the package registers itself. Outside
Dograh (tests, tools) the registration is skipped and the modules work alone.
See docs/dograh.md.
"""

from __future__ import annotations

from .completion import run_completion
from .detail import RESULT_KEY, build_detail
from .publisher import Publisher, PublishOutcome

PACKAGE_NAME = "eventbridge_webhooks"

try:
    from api.services.integrations.base import IntegrationPackageSpec
    from api.services.integrations.registry import register_package
except ImportError:  # not inside Dograh
    PACKAGE = None
else:
    from .dograh_glue import webhook_node_registration

    PACKAGE = register_package(
        IntegrationPackageSpec(name=PACKAGE_NAME, nodes=(webhook_node_registration(),), run_completion=run_completion)
    )

__all__ = ["PACKAGE", "PACKAGE_NAME", "RESULT_KEY", "Publisher", "PublishOutcome", "build_detail", "run_completion"]
