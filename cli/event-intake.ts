import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_EVENT_BYTES, MAX_PUT_EVENTS_ENTRIES, putEventsEntryBytes } from '../shared/schemas/event.ts';
import { isRecord } from '../shared/schemas/workflow.ts';

/** An event as EventBridge hands it to a rule's target. */
export interface BusEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: string[];
  readonly detail: unknown;
}

export interface EventIntake {
  /** `http://127.0.0.1:<port>`: give it to an EventBridge client as its endpoint. */
  readonly endpoint: string;
  close(): Promise<void>;
}

export interface EventIntakeOptions {
  readonly port: number;
  /** Events for other buses are refused, as EventBridge refuses an unknown bus. */
  readonly busName: string;
  /** Called for every accepted event, without waiting: EventBridge invokes its targets asynchronously. */
  readonly onEvent: (event: BusEvent) => void;
  /**
   * Makes a request's accepted events durable before the intake answers (a journal
   * on disk). If it rejects, the request is answered 500 and no event is handed on:
   * the sender retries, as it would with EventBridge.
   */
  readonly persist?: (events: readonly BusEvent[]) => Promise<void>;
}

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';

/**
 * A local stand-in for EventBridge's PutEvents, over HTTP on loopback, speaking
 * the AWS JSON 1.1 protocol (`X-Amz-Target: AWSEvents.PutEvents`), so the AWS
 * SDK's EventBridge client and `webhooks emit --endpoint` work against it
 * unchanged. Only PutEvents exists; rules are the caller's (`onEvent`).
 */
export async function startEventIntake(options: EventIntakeOptions): Promise<EventIntake> {
  const server = createServer((request, response) => {
    readBody(request)
      .then((body) => answer(request, body, response, options))
      .catch((error: unknown) => fail(response, 500, 'InternalException', String(error)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(
  request: IncomingMessage,
  body: string,
  response: ServerResponse,
  options: EventIntakeOptions,
): Promise<void> {
  const target = request.headers['x-amz-target'];
  if (request.method !== 'POST' || target !== 'AWSEvents.PutEvents') {
    fail(response, 400, 'UnknownOperationException', `only AWSEvents.PutEvents is served here, not ${String(target)}`);
    return;
  }
  let input: unknown;
  try {
    input = JSON.parse(body);
  } catch {
    fail(response, 400, 'SerializationException', 'the request body is not JSON');
    return;
  }
  const entries = isRecord(input) && Array.isArray(input['Entries']) ? input['Entries'] : undefined;
  if (entries === undefined || entries.length === 0 || entries.length > MAX_PUT_EVENTS_ENTRIES) {
    fail(response, 400, 'ValidationException', 'Entries must hold 1 to 10 entries');
    return;
  }
  // EventBridge refuses the whole request, not the entries past the limit, and
  // counts an entry over the limit on its own the same way.
  if (entries.reduce((sum: number, entry) => sum + entryBytes(entry), 0) > MAX_EVENT_BYTES) {
    fail(response, 400, 'ValidationException', 'Total size of the entries in the request is over the limit.');
    return;
  }
  const checked = entries.map((entry) => accept(entry, options));
  const events = checked.filter((c): c is BusEvent => !('ErrorCode' in c));
  // Durable first, answered second: an event answered OK survives a crash.
  if (options.persist !== undefined && events.length > 0) await options.persist(events);
  for (const event of events) options.onEvent(event);
  const results: EntryResult[] = checked.map((c) => ('ErrorCode' in c ? c : { EventId: c.id }));
  response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
  response.end(JSON.stringify({ FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results }));
}

type EntryResult = { EventId: string } | EntryError;
type EntryError = { ErrorCode: string; ErrorMessage: string };

function accept(entry: unknown, options: EventIntakeOptions): BusEvent | EntryError {
  if (!isRecord(entry)) return { ErrorCode: 'MalformedEntry', ErrorMessage: 'an entry must be an object' };
  const { Source, DetailType, Detail, EventBusName, Resources, Time } = entry;
  const bus = typeof EventBusName === 'string' && EventBusName !== '' ? EventBusName.split('/').at(-1) : 'default';
  if (bus !== options.busName)
    return {
      ErrorCode: 'ResourceNotFoundException',
      ErrorMessage: `event bus ${bus} does not exist here (the dev bus is ${options.busName})`,
    };
  if (typeof Source !== 'string' || typeof DetailType !== 'string' || typeof Detail !== 'string') {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Source, DetailType and Detail are required' };
  }
  let detail: unknown;
  try {
    detail = JSON.parse(Detail);
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is not valid JSON' };
  }
  if (!isRecord(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail must be a JSON object' };
  const id = randomUUID();
  const time =
    Time instanceof Date
      ? Time.toISOString()
      : typeof Time === 'number'
        ? new Date(Time * 1000).toISOString()
        : new Date().toISOString();
  const resources = Array.isArray(Resources) ? Resources.filter((r): r is string => typeof r === 'string') : [];
  return {
    version: '0',
    id,
    'detail-type': DetailType,
    source: Source,
    account: ACCOUNT,
    time,
    region: REGION,
    resources,
    detail,
  };
}

/** An entry's size as EventBridge counts it; fields of the wrong type count nothing (the entry is refused later). */
function entryBytes(entry: unknown): number {
  if (!isRecord(entry)) return 0;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return putEventsEntryBytes({
    Source: text(entry['Source']),
    DetailType: text(entry['DetailType']),
    Detail: text(entry['Detail']),
    Resources: Array.isArray(entry['Resources'])
      ? entry['Resources'].filter((r): r is string => typeof r === 'string')
      : undefined,
    Time: entry['Time'] ?? undefined,
  });
}

function fail(response: ServerResponse, status: number, type: string, message: string): void {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  response.end(JSON.stringify({ __type: type, message }));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    // PutEvents takes 256 KB of entries, which JSON escaping may grow a few times; refuse anything far beyond.
    if (size > 4 * 1024 * 1024) throw new Error('request too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
