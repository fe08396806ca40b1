import { describe, expect, it } from 'vitest';
import { REDACTED, isSensitiveKey, redact } from '../../shared/observability/redact.ts';

// Redaction by field name (shared/observability/redact-keys.ts), and the walker applying it.

const CANARY = 'canary-s3cr3t-VALUE-9f2b';

/** Every entry must be redacted, whatever its naming style. */
const SENSITIVE_KEYS = [
  // authorization / cookies / credentials
  'authorization',
  'Authorization',
  'proxy-authorization',
  'AUTHORIZATION',
  'cookie',
  'Cookie',
  'set-cookie',
  'Set-Cookie',
  'SET_COOKIE',
  'credential',
  'credentials',
  'userCredentials',
  'auth',
  // passwords
  'password',
  'Password',
  'PASSWORD',
  'db_password',
  'dbPassword',
  'passwd',
  'pwd',
  'pass',
  'passphrase',
  // secrets and signatures
  'secret',
  'client_secret',
  'clientSecret',
  'ClientSecret',
  'client-secret',
  'CLIENT_SECRET',
  'client secret',
  'webhookSecret',
  'signature',
  'x-hub-signature-256',
  'X-Dograh-Signature',
  'sig',
  // tokens
  'token',
  'access_token',
  'accessToken',
  'AccessToken',
  'access-token',
  'ACCESS_TOKEN',
  'access token',
  'ACCESSTOKEN',
  'refreshToken',
  'refresh_token',
  'id-token',
  'id_token',
  'idToken',
  'x-auth-token',
  'sessionToken',
  'device_tokens',
  'llm_token',
  'llmToken',
  'openai_token',
  'prompt_token',
  'total_token',
  'jwt',
  // api / access / private keys
  'api_key',
  'apiKey',
  'ApiKey',
  'APIKey',
  'api-key',
  'API_KEY',
  'api key',
  'apikey',
  'x-api-key',
  'X-API-Key',
  'XApiKey',
  'access_key',
  'accessKey',
  'AWS_SECRET_ACCESS_KEY',
  'aws_access_key_id',
  'private_key',
  'privateKey',
  'PRIVATE-KEY',
  'private key',
  'header_value',
  // contact data
  'email',
  'Email',
  'EMAIL',
  'e-mail',
  'e_mail',
  'email_address',
  'emailAddress',
  'EmailAddress',
  'customer_email',
  'email_id',
  'phone',
  'phone_number',
  'phoneNumber',
  'PhoneNumber',
  'PHONE_NUMBER',
  'phone-number',
  'phone number',
  'telephone',
  'mobile',
  'mobile_number',
  'MobileNumber',
  'msisdn',
  'caller_number',
  'from_number',
  'to_number',
  'contactNo',
  // addresses
  'address',
  'Address',
  'street_address',
  'streetAddress',
  'home_address',
  'billing_address',
  'BillingAddress',
  'billing-address',
  'shipping address',
  'shipAddress',
  'mailing_address',
  'address_line1',
  'addressLine2',
  'addr',
  // birth, national ids
  'date_of_birth',
  'dateOfBirth',
  'DateOfBirth',
  'date-of-birth',
  'DATE_OF_BIRTH',
  'date of birth',
  'dob',
  'DOB',
  'birthdate',
  'birth_date',
  'birthDate',
  'birthday',
  'ssn',
  'SSN',
  'social_security_number',
  'socialSecurityNumber',
  'Social Security Number',
  'passport',
  'iban',
  // payment cards
  'card_number',
  'cardNumber',
  'CardNumber',
  'card-number',
  'CARD_NUMBER',
  'card number',
  'card_no',
  'cc_number',
  'credit_card',
  'creditCard',
  'CreditCardNumber',
  'debit_card',
  'pan',
  'PAN',
  'cvv',
  'CVV',
  'cvv2',
  'cvc',
  'card_cvc',
  'pin',
  'otp',
  // urls that carry one-time secrets
  'callback_url',
  'callbackUrl',
  'CallbackURL',
  'callback-url',
  'redirect_uri',
  'redirectUri',
  'RedirectURI',
  'redirect-uri',
  'redirect_url',
] as const;

/** Names that appear on every log line or in Dograh payloads and must stay readable. */
const HARMLESS_KEYS = [
  'workflow_run_id',
  'workflowRunId',
  'workflow_id',
  'workflow_name',
  'workflow_run_name',
  'delivery_id',
  'deliveryId',
  'node_id',
  'nodeId',
  'organization_id',
  'campaign_id',
  'status',
  'status_code',
  'last_status_code',
  'statusCode',
  'outcome',
  'Outcome',
  'customer_name',
  'customerName',
  'name',
  'company',
  'attempt',
  'attempts',
  'max_attempts',
  'http_method',
  'method',
  'host',
  'endpoint_host',
  'duration_ms',
  'retry_after_seconds',
  'initial_delay_seconds',
  'content_type',
  'Content-Type',
  'user_agent',
  'call_time',
  'call_disposition',
  'disposition',
  'recording_url',
  'transcript_url',
  'cost_info',
  'total_tokens',
  'prompt_tokens',
  'completion_tokens',
  'max_tokens',
  'token_count',
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'max_output_tokens',
  'llm_tokens',
  'num_tokens',
  'tokens_used',
  'token_usage',
  'token_limit',
  'promptTokenCount',
  'totalTokenCount',
  'credential_uuid',
  'credentialUuid',
  'secret_name',
  'secretName',
  'token_type',
  'auth_type',
  'signature_version',
  'header_name',
  'key',
  'value',
  'ip_address',
  'ipAddress',
  'IPAddress',
  'remote_address',
  'remoteAddress',
  'localAddress',
  'server_addr',
  'classname',
  'spinner',
  'compass',
  'error',
  'message',
  'reason',
  'path',
  'language',
  'enabled',
] as const;

describe('isSensitiveKey', () => {
  it.each(SENSITIVE_KEYS)('treats %j as sensitive', (key) => {
    expect(isSensitiveKey(key)).toBe(true);
  });

  it.each(HARMLESS_KEYS)('treats %j as harmless', (key) => {
    expect(isSensitiveKey(key)).toBe(false);
  });

  it('keeps a network address when the key also names a personal one', () => {
    expect(isSensitiveKey('ip_or_home_address')).toBe(true);
  });
});

describe('redact: field names', () => {
  it.each(SENSITIVE_KEYS)('replaces the value under %j', (key) => {
    const out = redact({ [key]: CANARY, keep: 'visible' }) as Record<string, unknown>;
    expect(out[key]).toBe(REDACTED);
    expect(out.keep).toBe('visible');
    expect(JSON.stringify(out)).not.toContain(CANARY);
  });

  it.each(HARMLESS_KEYS)('keeps the value under %j', (key) => {
    const out = redact({ [key]: 'plain-value-42' }) as Record<string, unknown>;
    expect(out[key]).toBe('plain-value-42');
  });

  it('redacts numbers and booleans under sensitive names too', () => {
    expect(redact({ phone: 15551234567, card_number: 4111111111111111, pin: 1234, secret: true })).toEqual({
      phone: REDACTED,
      card_number: REDACTED,
      pin: REDACTED,
      secret: REDACTED,
    });
  });

  it('keeps null and undefined under sensitive names', () => {
    expect(redact({ token: null, password: undefined })).toEqual({ token: null, password: undefined });
  });

  it('keeps the shape of an object under a sensitive name and redacts every leaf', () => {
    const input = {
      billing_address: { street: '1 Main St', city: 'Springfield', lines: ['a', 'b', 'c'], zip: 12345, extra: null },
    };
    expect(redact(input)).toEqual({
      billing_address: {
        street: REDACTED,
        city: REDACTED,
        lines: [REDACTED, REDACTED, REDACTED],
        zip: REDACTED,
        extra: null,
      },
    });
  });

  it('redacts the value of a { key, value } pair whose key is sensitive, as in custom_headers', () => {
    const headers = [
      { key: 'X-Source', value: 'dograh' },
      { key: 'X-API-Key', value: CANARY },
      { name: 'Authorization', value: CANARY },
    ];
    const out = redact({ custom_headers: headers });
    expect(out).toEqual({
      custom_headers: [
        { key: 'X-Source', value: 'dograh' },
        { key: 'X-API-Key', value: REDACTED },
        { name: 'Authorization', value: REDACTED },
      ],
    });
  });

  it('redacts credential objects of every contract type but keeps their type', () => {
    const credentials = [
      { type: 'API_KEY', api_key: CANARY, header_name: 'X-API-Key' },
      { type: 'BEARER_TOKEN', token: CANARY },
      { type: 'BASIC_AUTH', username: 'ops', password: CANARY },
      { type: 'CUSTOM_HEADER', header_name: 'X-Custom', header_value: CANARY },
    ];
    const out = redact(credentials) as Array<Record<string, unknown>>;
    expect(JSON.stringify(out)).not.toContain(CANARY);
    expect(out.map((c) => c.type)).toEqual(['API_KEY', 'BEARER_TOKEN', 'BASIC_AUTH', 'CUSTOM_HEADER']);
    expect(out[0]?.header_name).toBe('X-API-Key');
  });

  it('keeps harmless Dograh run data readable', () => {
    const detail = {
      workflow_run_id: 42,
      workflow_name: 'Sales follow-up',
      initial_context: { customer_name: 'Ada', phone_number: '+15551234567' },
      gathered_context: { call_disposition: 'interested', email: 'ada@example.com' },
      cost_info: { total_tokens: 1200, prompt_tokens: 900 },
    };
    expect(redact(detail)).toEqual({
      workflow_run_id: 42,
      workflow_name: 'Sales follow-up',
      initial_context: { customer_name: 'Ada', phone_number: REDACTED },
      gathered_context: { call_disposition: 'interested', email: REDACTED },
      cost_info: { total_tokens: 1200, prompt_tokens: 900 },
    });
  });
});
