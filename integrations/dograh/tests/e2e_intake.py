"""The producer against `webhooks dev`'s PutEvents intake, with the real boto3 client.

Not collected by `unittest discover` (its name does not start with "test"): it
needs a running intake. test/integration/producer.test.ts starts one in-process,
runs this module with PRODUCER_INTAKE_ENDPOINT and PRODUCER_RECEIVER_ORIGIN set,
and then checks that every event below was delivered to the receiver and
recorded as delivered in the outcome log.
"""

import asyncio
import os
import unittest
from unittest import mock

from eventbridge_webhooks import RESULT_KEY, run_completion
from eventbridge_webhooks.completion import make_events_client
from eventbridge_webhooks.publisher import Publisher
from eventbridge_webhooks.settings import ProducerSettings

from .fakes import definition, make_context, make_run, webhook_node

INTAKE = os.environ.get("PRODUCER_INTAKE_ENDPOINT", "")
RECEIVER = os.environ.get("PRODUCER_RECEIVER_ORIGIN", "")


def setUpModule():
    if not INTAKE or not RECEIVER:
        raise RuntimeError("e2e_intake needs PRODUCER_INTAKE_ENDPOINT and PRODUCER_RECEIVER_ORIGIN (npm test sets them)")


def settings(**kw):
    return ProducerSettings(mode="eventbridge", endpoint_url=INTAKE, region="us-east-1", **kw)


def counting_client(settings_):
    client = make_events_client(settings_)
    calls = []
    client.meta.events.register("provide-client-params.events.PutEvents", lambda params, **_: calls.append(params))
    return client, calls


class CompletionHandlerTest(unittest.TestCase):
    def test_the_completion_handler_publishes_a_run_through_boto3(self):
        run = make_run(id=9101)
        template = {"run": "{{workflow_run_id}}", "recording": "{{recording_url}}", "user": "{{user_recording_url}}", "campaign": "{{campaign_id}}"}
        nodes = [webhook_node(n, f"{RECEIVER}/producer/9101/{n}", payload_template=template) for n in ("a", "b")]
        context = make_context(run, workflow_definition=definition(*nodes))
        env = {
            "DOGRAH_WEBHOOKS_DELIVERY": "eventbridge",
            "DOGRAH_EVENTBRIDGE_ENDPOINT_URL": INTAKE,
            "DOGRAH_EVENTBRIDGE_REGION": "us-east-1",
            "BACKEND_API_ENDPOINT": "https://dograh.example.com",
        }
        with mock.patch.dict(os.environ, env):
            result = asyncio.run(run_completion(nodes, context))
        self.assertEqual(result[RESULT_KEY]["status"], "published")
        self.assertRegex(result[RESULT_KEY]["event_id"], r"^[0-9a-f-]{36}$")


class PublisherTest(unittest.TestCase):
    def test_eleven_runs_go_in_two_requests(self):
        client, calls = counting_client(settings())
        details = [
            {"organization_id": 42, "workflow_run_id": 9200 + i, "workflow_id": 77, "workflow_definition": definition(webhook_node("n", f"{RECEIVER}/producer/batch/{9200 + i}"))}
            for i in range(11)
        ]
        outcomes = Publisher(client, bus_name="default", source="dograh.workflows", detail_type="Workflow Run Completed").publish(details)
        self.assertEqual([len(c["Entries"]) for c in calls], [10, 1])
        self.assertEqual([o.published for o in outcomes], [True] * 11)

    def test_a_large_workflow_is_cut_to_its_webhook_nodes_and_still_goes(self):
        client, calls = counting_client(settings())
        detail = {"organization_id": 42, "workflow_run_id": 9301, "workflow_id": 77, "workflow_definition": definition(webhook_node("n", f"{RECEIVER}/producer/cut/9301"), prompt="p" * 300_000)}
        [outcome] = Publisher(client, bus_name="default", source="dograh.workflows", detail_type="Workflow Run Completed").publish([detail])
        self.assertTrue(outcome.published)
        self.assertTrue(outcome.cut)
        self.assertEqual(len(calls), 1)

    def test_an_entry_for_an_unknown_bus_is_reported_and_not_sent_again(self):
        client, calls = counting_client(settings())
        [outcome] = Publisher(client, bus_name="someone-elses-bus", source="dograh.workflows", detail_type="Workflow Run Completed").publish(
            [{"organization_id": 42, "workflow_run_id": 9302, "workflow_id": 77, "workflow_definition": definition()}]
        )
        self.assertEqual((outcome.published, outcome.error_code, outcome.attempts, len(calls)), (False, "ResourceNotFoundException", 1, 1))


if __name__ == "__main__":
    unittest.main()
