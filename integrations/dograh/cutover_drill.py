"""The cut-over of docs/dograh.md, step by step, against `webhooks dev` (never AWS).

    npx webhooks dev --port 4111 --receiver-port 8799 --no-example     # one terminal
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \\
      python3 integrations/dograh/cutover_drill.py http://127.0.0.1:4111 http://127.0.0.1:8799

Each step runs the completion handler as Dograh's worker would, on a made-up
run, with DOGRAH_WEBHOOKS_DELIVERY set as in that step, and prints what the
handler returned: {} means Dograh sends the run's webhooks itself; a
"published" record means the pipeline does, and the patched webhook step skips.
The dev server's own output shows what the pipeline did with each event.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eventbridge_webhooks import run_completion  # noqa: E402
from tests.fakes import definition, make_context, make_run, webhook_node  # noqa: E402


def context(run_id: int, receiver: str, **run_fields):
    template = {"run": "{{workflow_run_id}}", "recording": "{{recording_url}}", "outcome": "{{gathered_context.call_disposition}}"}
    node = webhook_node("crm", f"{receiver}/webhook/drill/{run_id}", payload_template=template)
    return make_context(make_run(id=run_id, **run_fields), workflow_definition=definition(node))


def step(title: str, mode: str, endpoint: str, ctx) -> dict:
    env = {"DOGRAH_WEBHOOKS_DELIVERY": mode, "DOGRAH_EVENTBRIDGE_ENDPOINT_URL": endpoint, "DOGRAH_EVENTBRIDGE_REGION": "us-east-1", "DOGRAH_EVENTBRIDGE_MAX_ATTEMPTS": "2"}
    with mock.patch.dict(os.environ, env):
        result = asyncio.run(run_completion([], ctx))
    print(f"{title}\n  DOGRAH_WEBHOOKS_DELIVERY={mode} run {ctx.workflow_run_id}: handler returned {result or '{}'}")
    return result


def main(endpoint: str, receiver: str) -> int:
    step("1. installed, mode off: nothing is sent, Dograh delivers", "dograh", endpoint, context(8001, receiver))
    step("2. shadow: published as 'Workflow Run Completed (shadow)', which no rule matches", "shadow", endpoint, context(8002, receiver))
    step("3. cut over: published, the pipeline delivers, Dograh skips", "eventbridge", endpoint, context(8003, receiver))
    step("4. the same run again (a retried Dograh task): a duplicate event, dropped by delivery id", "eventbridge", endpoint, context(8003, receiver))
    step("5. an event too large even cut to its webhook nodes: Dograh delivers it", "eventbridge", endpoint, context(8005, receiver, initial_context={"notes": "x" * 270_000}))
    step("6. EventBridge unreachable: after 2 attempts, Dograh delivers it", "eventbridge", "http://127.0.0.1:9", context(8006, receiver))
    step("7. rolled back: nothing is sent, Dograh delivers", "dograh", endpoint, context(8007, receiver))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: cutover_drill.py INTAKE_URL RECEIVER_ORIGIN")
    sys.exit(main(sys.argv[1], sys.argv[2]))
