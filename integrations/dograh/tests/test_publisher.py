import unittest

from eventbridge_webhooks.publisher import Publisher

from .fakes import FakeEventsClient, accept_all


def details(n, size=0, start=1):
    return [{"organization_id": 42, "workflow_run_id": start + i, "initial_context": {"notes": "x" * size}} for i in range(n)]


def publisher(client, sleeps=None, max_attempts=3):
    return Publisher(client, bus_name="dograh", source="dograh.workflows", detail_type="Workflow Run Completed", max_attempts=max_attempts, sleep=(sleeps if sleeps is not None else []).append)


def failing(code, times, index=0):
    """Entry `index` of each request fails with `code` on the first `times` calls."""

    def respond(entries, call):
        out = accept_all(entries, call)
        if call <= times and index < len(entries):
            out["Entries"][index] = {"ErrorCode": code, "ErrorMessage": f"{code} on call {call}"}
            out["FailedEntryCount"] = 1
        return out

    return respond


class BatchingTest(unittest.TestCase):
    def test_at_most_ten_entries_per_request_in_order(self):
        client = FakeEventsClient()
        outcomes = publisher(client).publish(details(23))
        self.assertEqual([len(c) for c in client.calls], [10, 10, 3])
        self.assertEqual([o.workflow_run_id for o in outcomes], list(range(1, 24)))
        self.assertTrue(all(o.published and o.attempts == 1 for o in outcomes))

    def test_at_most_256_kb_per_request(self):
        client = FakeEventsClient()
        publisher(client).publish(details(5, size=100_000))
        self.assertEqual([len(c) for c in client.calls], [2, 2, 1])
        for call in client.calls:
            self.assertLessEqual(sum(len(e["Source"]) + len(e["DetailType"]) + len(e["Detail"].encode()) for e in call), 256 * 1024)

    def test_entries_name_the_bus_source_and_detail_type(self):
        client = FakeEventsClient()
        publisher(client).publish(details(1))
        entry = client.calls[0][0]
        self.assertEqual({k: entry[k] for k in ("EventBusName", "Source", "DetailType")}, {"EventBusName": "dograh", "Source": "dograh.workflows", "DetailType": "Workflow Run Completed"})
        self.assertEqual(entry["Detail"], '{"organization_id":42,"workflow_run_id":1,"initial_context":{"notes":""}}')

    def test_an_event_too_large_is_refused_alone_and_the_others_go(self):
        client = FakeEventsClient()
        outcomes = publisher(client).publish([*details(1), *details(1, size=300_000, start=2), *details(1, start=3)])
        self.assertEqual([o.published for o in outcomes], [True, False, True])
        self.assertEqual(outcomes[1].error_code, "EventTooLarge")
        self.assertEqual(outcomes[1].attempts, 0)
        self.assertEqual([len(c) for c in client.calls], [2])


class FailedEntriesTest(unittest.TestCase):
    def test_a_throttled_entry_is_sent_again_alone_after_a_backoff(self):
        client = FakeEventsClient(failing("ThrottlingException", times=1, index=1))
        sleeps = []
        outcomes = publisher(client, sleeps).publish(details(3))
        self.assertEqual([len(c) for c in client.calls], [3, 1])
        self.assertEqual(client.calls[1][0]["Detail"], client.calls[0][1]["Detail"])
        self.assertEqual([(o.published, o.attempts) for o in outcomes], [(True, 1), (True, 2), (True, 1)])
        self.assertEqual(sleeps, [0.2])

    def test_attempts_are_bounded(self):
        client = FakeEventsClient(failing("InternalFailure", times=99))
        sleeps = []
        [outcome] = publisher(client, sleeps, max_attempts=3).publish(details(1))
        self.assertEqual(len(client.calls), 3)
        self.assertEqual(sleeps, [0.2, 0.4])
        self.assertFalse(outcome.published)
        self.assertEqual((outcome.error_code, outcome.error_message, outcome.attempts), ("InternalFailure", "InternalFailure on call 3", 3))

    def test_an_entry_refused_for_what_it_is_is_not_sent_again(self):
        client = FakeEventsClient(failing("MalformedDetail", times=99))
        [outcome] = publisher(client).publish(details(1))
        self.assertEqual(len(client.calls), 1)
        self.assertEqual((outcome.error_code, outcome.attempts), ("MalformedDetail", 1))

    def test_a_failed_request_is_tried_again_then_reported_for_every_entry(self):
        class Down:
            calls = 0

            def put_events(self, **_):
                Down.calls += 1
                raise ConnectionError("connection refused")

        outcomes = publisher(Down(), max_attempts=2).publish(details(2))
        self.assertEqual(Down.calls, 2)
        self.assertEqual([(o.published, o.error_code, o.attempts) for o in outcomes], [(False, "ConnectionError", 2)] * 2)

    def test_an_access_denied_request_is_not_tried_again(self):
        class Denied(Exception):
            response = {"Error": {"Code": "AccessDeniedException", "Message": "no"}}

        class Client:
            calls = 0

            def put_events(self, **_):
                Client.calls += 1
                raise Denied("not authorized to perform events:PutEvents")

        [outcome] = publisher(Client()).publish(details(1))
        self.assertEqual((Client.calls, outcome.error_code), (1, "AccessDeniedException"))

    def test_max_attempts_must_be_positive(self):
        with self.assertRaises(ValueError):
            publisher(FakeEventsClient(), max_attempts=0)


if __name__ == "__main__":
    unittest.main()
