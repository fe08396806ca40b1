import unittest

from eventbridge_webhooks.settings import ProducerSettings, SettingsError, settings_from_env


class SettingsTest(unittest.TestCase):
    def test_defaults_leave_delivery_to_dograh(self):
        s = settings_from_env({})
        self.assertEqual(s, ProducerSettings())
        self.assertFalse(s.publishes)

    def test_every_variable(self):
        s = settings_from_env(
            {
                "DOGRAH_WEBHOOKS_DELIVERY": " EventBridge ",
                "DOGRAH_EVENTBRIDGE_BUS_NAME": "dograh",
                "DOGRAH_EVENTBRIDGE_ENDPOINT_URL": "http://127.0.0.1:4010",
                "DOGRAH_EVENTBRIDGE_REGION": "eu-west-1",
                "DOGRAH_EVENTBRIDGE_SOURCE": "acme.dograh",
                "DOGRAH_EVENTBRIDGE_DETAIL_TYPE": "Run Done",
                "DOGRAH_EVENTBRIDGE_MAX_ATTEMPTS": "5",
                "BACKEND_API_ENDPOINT": "https://api.example.com",
            }
        )
        self.assertEqual(
            (s.mode, s.bus_name, s.endpoint_url, s.region, s.source, s.effective_detail_type, s.max_attempts, s.backend_api_endpoint),
            ("eventbridge", "dograh", "http://127.0.0.1:4010", "eu-west-1", "acme.dograh", "Run Done", 5, "https://api.example.com"),
        )

    def test_shadow_uses_its_own_detail_type(self):
        self.assertEqual(settings_from_env({"DOGRAH_WEBHOOKS_DELIVERY": "shadow"}).effective_detail_type, "Workflow Run Completed (shadow)")

    def test_backend_endpoint_falls_back_as_dograhs_does(self):
        self.assertEqual(settings_from_env({"PUBLIC_BASE_URL": "https://pub.example.com"}).backend_api_endpoint, "https://pub.example.com")

    def test_dograhs_retry_policy_by_default_from_its_own_variables(self):
        self.assertEqual(settings_from_env({}).retry_policy, {"max_attempts": 5, "base_delay_seconds": 30, "max_delay_seconds": 600, "timeout_seconds": 30})
        self.assertEqual(settings_from_env({"WEBHOOK_DELIVERY_MAX_ATTEMPTS": "8"}).retry_policy["max_attempts"], 8)
        self.assertIsNone(settings_from_env({"DOGRAH_EVENTBRIDGE_KEEP_DOGRAH_RETRIES": "false"}).retry_policy)

    def test_names_every_bad_variable_at_once(self):
        with self.assertRaises(SettingsError) as caught:
            settings_from_env({"DOGRAH_WEBHOOKS_DELIVERY": "both", "DOGRAH_EVENTBRIDGE_MAX_ATTEMPTS": "0", "DOGRAH_EVENTBRIDGE_ENDPOINT_URL": "127.0.0.1:4010", "WEBHOOK_DELIVERY_BASE_DELAY_SECONDS": "-1"})
        message = str(caught.exception)
        for name in ("DOGRAH_WEBHOOKS_DELIVERY must be one of dograh, shadow, eventbridge, got 'both'", "DOGRAH_EVENTBRIDGE_MAX_ATTEMPTS", "DOGRAH_EVENTBRIDGE_ENDPOINT_URL", "WEBHOOK_DELIVERY_BASE_DELAY_SECONDS"):
            self.assertIn(name, message)


if __name__ == "__main__":
    unittest.main()
