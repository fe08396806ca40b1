import json
import unittest

from eventbridge_webhooks.detail import (
    MAX_ENTRY_BYTES,
    RESULT_KEY,
    EventTooLargeError,
    build_detail,
    encode_detail,
    entry_bytes,
    fit_detail,
    recording_storage_key,
    with_retry_policy,
)
from eventbridge_webhooks.settings import DOGRAH_DELIVERY_DEFAULTS

from .fakes import CREATED_AT, definition, make_run, webhook_node

BASE = "https://dograh.example.com"
SOURCE, DETAIL_TYPE = "dograh.workflows", "Workflow Run Completed"


def detail_of(run, token="tok-abc", defn=None):
    return build_detail(run, organization_id=42, workflow_definition=defn or definition(webhook_node("n1", "https://x/h")), public_token=token, backend_api_endpoint=BASE)


class BuildDetailTest(unittest.TestCase):
    def test_every_render_context_variable_with_dograhs_values(self):
        d = detail_of(make_run())
        links = f"{BASE}/api/v1/public/download/workflow/tok-abc"
        self.assertEqual(
            {k: v for k, v in d.items() if k != "workflow_definition"},
            {
                "organization_id": 42,
                "workflow_run_id": 1234,
                "workflow_run_name": "Inbound call from +1 555 0100",
                "workflow_id": 77,
                "workflow_name": "Support line",
                "campaign_id": 9,
                "call_time": "2026-11-27T09:30:00.123456+00:00",
                "initial_context": {"customer_name": "Ada Lovelace"},
                "gathered_context": {"call_disposition": "resolved"},
                "cost_info": {"call_duration_seconds": 185.5},
                "annotations": {"qa_n1": {"score": 4}},
                "extra": make_run().extra,
                "recording_url": f"{links}/recording",
                "transcript_url": f"{links}/transcript",
                "user_recording_url": f"{links}/user_recording",
                "bot_recording_url": f"{links}/bot_recording",
            },
        )
        self.assertEqual([n["id"] for n in d["workflow_definition"]["nodes"]], ["start", "n1"])

    def test_a_link_only_for_what_the_run_has(self):
        d = detail_of(make_run(recording_url=None, transcript_url="", extra={"recordings": {"user": {"storage_key": 7}}}))
        self.assertEqual([d["recording_url"], d["transcript_url"], d["user_recording_url"], d["bot_recording_url"]], [None, None, None, None])

    def test_without_a_public_token_the_stored_values(self):
        d = detail_of(make_run(), token=None)
        self.assertEqual(d["recording_url"], "recordings/1234/mixed.wav")
        self.assertEqual(d["transcript_url"], "transcripts/1234.txt")
        self.assertEqual(d["user_recording_url"], "recordings/1234/user.wav")
        self.assertEqual(d["bot_recording_url"], "recordings/1234/bot.wav")

    def test_empty_contexts_become_objects_and_a_missing_created_at_is_now(self):
        run = make_run(initial_context=None, gathered_context=None, usage_info=None, annotations=None, extra=None, created_at=None, campaign_id=None)
        d = build_detail(run, organization_id=42, workflow_definition=None, public_token=None, backend_api_endpoint=BASE, now=lambda: CREATED_AT)
        self.assertEqual([d["initial_context"], d["gathered_context"], d["cost_info"], d["annotations"], d["extra"]], [{}, {}, {}, {}, {}])
        self.assertEqual(d["call_time"], CREATED_AT.isoformat())
        self.assertIsNone(d["campaign_id"])
        self.assertEqual(d["workflow_definition"], {"nodes": [], "edges": []})

    def test_missing_names_are_left_out_as_the_pipeline_renders_them_empty(self):
        d = detail_of(make_run(name=None, workflow=None))
        self.assertNotIn("workflow_run_name", d)
        self.assertNotIn("workflow_name", d)

    def test_this_packages_own_record_is_not_run_data(self):
        run = make_run(annotations={"qa_n1": {"score": 4}, RESULT_KEY: {"status": "published"}})
        self.assertEqual(detail_of(run)["annotations"], {"qa_n1": {"score": 4}})
        self.assertIn(RESULT_KEY, run.annotations)  # the run itself is not changed

    def test_recording_keys_as_dograh_stores_them(self):
        self.assertEqual(recording_storage_key({"recordings": {"user": "k"}}, "user"), "k")
        self.assertEqual(recording_storage_key({"recordings": {"bot": {"storage_key": "b"}}}, "bot"), "b")
        self.assertIsNone(recording_storage_key({"recordings": ["user"]}, "user"))
        self.assertIsNone(recording_storage_key({}, "user"))


class RetryPolicyTest(unittest.TestCase):
    """Dograh retries every delivery; its nodes have no retry_config, which in the pipeline means one attempt."""

    def test_a_webhook_node_without_retry_config_gets_dograhs(self):
        defn = with_retry_policy(definition(webhook_node("n1", "https://x/h")), DOGRAH_DELIVERY_DEFAULTS)
        data = defn["nodes"][1]["data"]
        self.assertEqual(data["retry_config"], {"max_attempts": 5, "backoff": "exponential", "initial_delay_seconds": 30, "max_delay_seconds": 600})
        self.assertEqual(data["timeout_seconds"], 30)
        self.assertEqual(defn["nodes"][0], definition()["nodes"][0])
        self.assertEqual(defn["viewport"], {"x": 0, "y": 0, "zoom": 1})

    def test_a_node_with_its_own_keeps_it(self):
        own = {"max_attempts": 2, "backoff": "fixed", "initial_delay_seconds": 5}
        defn = with_retry_policy(definition(webhook_node("n1", "https://x/h", retry_config=own, timeout_seconds=3)), DOGRAH_DELIVERY_DEFAULTS)
        self.assertEqual((defn["nodes"][1]["data"]["retry_config"], defn["nodes"][1]["data"]["timeout_seconds"]), (own, 3))

    def test_limits_are_the_pipelines(self):
        defn = with_retry_policy(definition(webhook_node("n1", "https://x/h")), {"max_attempts": 40, "base_delay_seconds": 1, "max_delay_seconds": 99999, "timeout_seconds": 60})
        data = defn["nodes"][1]["data"]
        self.assertEqual((data["retry_config"]["max_attempts"], data["retry_config"]["max_delay_seconds"]), (25, 43200))
        self.assertNotIn("timeout_seconds", data)

    def test_without_a_policy_the_definition_is_sent_as_it_is(self):
        defn = definition(webhook_node("n1", "https://x/h"))
        self.assertEqual(with_retry_policy(defn, None), defn)
        self.assertEqual(detail_of(make_run(), defn=defn)["workflow_definition"], defn)


class FitDetailTest(unittest.TestCase):
    def test_whole_when_it_fits(self):
        d = detail_of(make_run())
        text, cut = fit_detail(d, SOURCE, DETAIL_TYPE)
        self.assertFalse(cut)
        self.assertEqual(json.loads(text), d)

    def test_a_large_workflow_is_cut_to_its_webhook_nodes(self):
        d = detail_of(make_run(), defn=definition(webhook_node("n1", "https://x/h"), webhook_node("n2", "https://x/i"), prompt="p" * 300_000))
        text, cut = fit_detail(d, SOURCE, DETAIL_TYPE)
        self.assertTrue(cut)
        self.assertLessEqual(entry_bytes(SOURCE, DETAIL_TYPE, text), MAX_ENTRY_BYTES)
        sent = json.loads(text)
        self.assertEqual([n["id"] for n in sent["workflow_definition"]["nodes"]], ["n1", "n2"])
        self.assertEqual(sent["workflow_definition"]["edges"], [])
        self.assertEqual(sent["initial_context"], d["initial_context"])

    def test_refuses_clearly_when_even_the_cut_event_is_too_large(self):
        d = detail_of(make_run(initial_context={"notes": "x" * 270_000}))
        with self.assertRaises(EventTooLargeError) as caught:
            fit_detail(d, SOURCE, DETAIL_TYPE)
        message = str(caught.exception)
        self.assertRegex(message, r"^workflow run 1234: the run-completed event is \d+ bytes even with workflow_definition cut to its webhook nodes; EventBridge takes at most 262144")
        self.assertIn("initial_context 2700", message)

    def test_sizes_count_utf8_bytes_as_eventbridge_does(self):
        text = encode_detail({"city": "Köln"})
        self.assertEqual(text, '{"city":"Köln"}')
        self.assertEqual(entry_bytes("s", "t", text), 2 + len('{"city":"Köln"}') + 1)

    def test_nan_is_not_json(self):
        with self.assertRaises(ValueError):
            encode_detail({"cost": float("nan")})


if __name__ == "__main__":
    unittest.main()
