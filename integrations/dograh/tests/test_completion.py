import asyncio
import json
import os
import re
import unittest
from pathlib import Path
from unittest import mock

from eventbridge_webhooks import RESULT_KEY, run_completion
from eventbridge_webhooks.completion import publish_run
from eventbridge_webhooks.settings import ProducerSettings

from .fakes import CREATED_AT, FakeEventsClient, make_context, make_run

PATCH = Path(__file__).resolve().parents[1] / "run_integrations.patch"


def run(coro):
    return asyncio.run(coro)


async def started(_run_id):
    return True


class PublishRunTest(unittest.TestCase):
    def publish(self, mode, client=None, **kw):
        client = client or FakeEventsClient()
        created = []

        def factory(settings):
            created.append(settings)
            return client

        settings = ProducerSettings(mode=mode, bus_name="dograh", backend_api_endpoint="https://dograh.example.com")
        result = run(publish_run(make_context(), settings=settings, client_factory=factory, now=lambda: CREATED_AT, **kw))
        return result, client, created

    def test_mode_dograh_sends_nothing_and_changes_nothing(self):
        result, client, created = self.publish("dograh")
        self.assertEqual((result, client.calls, created), ({}, [], []))

    def test_mode_eventbridge_publishes_and_records_it_for_the_patched_webhook_step(self):
        result, client, _ = self.publish("eventbridge")
        [[entry]] = client.calls
        self.assertEqual((entry["Source"], entry["DetailType"], entry["EventBusName"]), ("dograh.workflows", "Workflow Run Completed", "dograh"))
        detail = json.loads(entry["Detail"])
        self.assertEqual((detail["organization_id"], detail["workflow_run_id"]), (42, 1234))
        self.assertEqual(detail["recording_url"], "https://dograh.example.com/api/v1/public/download/workflow/tok-abc/recording")
        self.assertEqual(detail["workflow_definition"]["nodes"][1]["data"]["retry_config"]["max_attempts"], 5)
        self.assertEqual(result, {RESULT_KEY: {"status": "published", "event_id": "ev-0", "bus": "dograh", "published_at": CREATED_AT.isoformat(), "definition_cut_to_webhook_nodes": False}})

    def test_mode_shadow_publishes_under_the_shadow_detail_type_and_records_nothing(self):
        result, client, _ = self.publish("shadow")
        self.assertEqual(result, {})
        self.assertEqual(client.calls[0][0]["DetailType"], "Workflow Run Completed (shadow)")

    def test_a_run_dograh_already_started_stays_dograhs(self):
        result, client, _ = self.publish("eventbridge", dograh_started=started)
        self.assertEqual((result, client.calls), ({}, []))

    def test_an_event_not_accepted_leaves_the_run_to_dograh(self):
        refuse = FakeEventsClient(lambda entries, _: {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "AccessDeniedException", "ErrorMessage": "no"}]})
        result, client, _ = self.publish("eventbridge", client=refuse)
        self.assertEqual(result, {})
        self.assertEqual(len(client.calls), 1)


class RunCompletionTest(unittest.TestCase):
    """The handler Dograh calls: settings from the environment, and it never raises."""

    def test_without_the_variable_it_does_nothing(self):
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertEqual(run(run_completion([], make_context())), {})

    def test_a_bad_setting_leaves_delivery_to_dograh(self):
        with mock.patch.dict(os.environ, {"DOGRAH_WEBHOOKS_DELIVERY": "eventbrige"}, clear=True), self.assertLogs("eventbridge_webhooks.completion") as logs:
            self.assertEqual(run(run_completion([], make_context())), {})
        self.assertIn("DOGRAH_WEBHOOKS_DELIVERY must be one of dograh, shadow, eventbridge, got 'eventbrige'; Dograh sends webhooks itself", logs.output[0])

    def test_an_unforeseen_failure_leaves_delivery_to_dograh(self):
        env = {"DOGRAH_WEBHOOKS_DELIVERY": "eventbridge", "DOGRAH_EVENTBRIDGE_ENDPOINT_URL": "http://127.0.0.1:9"}
        with mock.patch.dict(os.environ, env, clear=True), self.assertLogs("eventbridge_webhooks.completion") as logs:
            # A run object the detail cannot be built from (created_at is not a datetime).
            self.assertEqual(run(run_completion([], make_context(make_run(created_at="yesterday")))), {})
        self.assertIn("workflow run 1234: the EventBridge producer failed; Dograh sends this run's webhooks itself", logs.output[0])


class PatchContractTest(unittest.TestCase):
    """run_integrations.patch skips Dograh's webhook step exactly when this package recorded a publish."""

    @classmethod
    def setUpClass(cls):
        text = PATCH.read_text()
        added = "\n".join(line[1:] for line in text.splitlines() if line.startswith("+") and not line.startswith("+++"))
        source = re.search(r"^def _webhooks_published_to_eventbridge\(.*?^    return False$", added, re.S | re.M).group(0)
        namespace = {"Optional": object, "Dict": {}.__class__, "Any": object, "WorkflowRunModel": object}
        exec(compile("from typing import Optional, Dict, Any\nWorkflowRunModel = object\n" + source, str(PATCH), "exec"), namespace)
        cls.skips = staticmethod(namespace["_webhooks_published_to_eventbridge"])
        cls.text = text

    def test_the_patch_calls_it_before_dograhs_own_webhooks(self):
        self.assertLess(self.text.index("if _webhooks_published_to_eventbridge(integration_results, workflow_run):"), self.text.index("# Step 8: Build render context"))

    def test_skips_on_this_attempts_published_record(self):
        published = run(publish_run(make_context(), settings=ProducerSettings(mode="eventbridge"), client_factory=lambda _: FakeEventsClient()))
        self.assertTrue(self.skips(published, make_run(annotations={})))

    def test_skips_on_an_earlier_attempts_record(self):
        self.assertTrue(self.skips({}, make_run(annotations={RESULT_KEY: {"status": "published"}})))

    def test_sends_itself_otherwise(self):
        self.assertFalse(self.skips({}, make_run(annotations={})))
        self.assertFalse(self.skips(None, make_run(annotations=None)))
        self.assertFalse(self.skips({RESULT_KEY: {"status": "failed"}}, make_run()))
        self.assertFalse(self.skips({"integration_eventbridge_webhooks": {"error": "completion_handler_failed"}}, make_run()))


if __name__ == "__main__":
    unittest.main()
