// Over 400 lines on purpose: the pieces the soak and the crash test share, kept in one module so both
// import the same receiver, child `webhooks dev` and accounting.
/**
 * The pieces of the soak (bench/soak.ts) and of the crash test of `webhooks dev --data`:
 * a scripted receiver that logs what it answered, the real `webhooks dev` in a child
 * process that can be killed and started again, and the accounting of every delivery
 * against the receiver's own log. Traffic goes to loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { messagesHeld, readQueueDepth } from '../shared/adapters/sqs-queue-depth.ts';
import { createDynamoDeliveryQueries } from '../shared/adapters/dynamo-delivery-queries.ts';
import { deliveryId, FINAL_STATUSES } from '../shared/domain/delivery.ts';
import { LOCAL_TABLE_NAME } from '../cli/local-stack.ts';
import { DEFAULT_DETAIL_TYPE, DEFAULT_EVENT_SOURCE } from '../shared/schemas/event.ts';
import { emulatorClientConfig } from '../shared/local/emulator-client-config.ts';
import type { DeliveryRecord } from '../shared/ports/delivery-store.ts';
import { addReconcilerLine, isJsonLogLine, NO_RECONCILER_RUNS, type ReconcilerTally } from './reconciler-log.ts';

export const ROOT = resolve(import.meta.dirname, '..');
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;
const ORG = 42;

// ---------------------------------------------------------------- the script

/** What the receiver does with a request. */
export type Behaviour = '200' | '500' | '503' | '429' | '408' | 'reset' | 'hang' | '400' | '410';

/** A delivery's part in the script: how many of its first requests fail and how, and how it ends. */
export interface Script {
  readonly kind: 'ok' | 'transient' | 'permanent';
  /** Behaviour of request n (1-based) for n <= failures.length; '200' after. */
  readonly failures: readonly Behaviour[];
  /** What the outcome log should say at the end. */
  readonly expected: 'delivered' | 'failed';
}

const TRANSIENT: readonly Behaviour[] = ['500', '503', '429', '408', 'reset', 'hang'];

/** The script of one delivery, a pure function of its id: 70 % 200, 20 % one or two transient failures then 200, 10 % 400 or 410. */
export function scriptFor(id: string, mix = { ok: 0.7, transient: 0.2 }): Script {
  const h = createHash('sha256').update(id).digest();
  const r = h.readUInt32BE(0) / 2 ** 32;
  if (r < mix.ok) return { kind: 'ok', failures: [], expected: 'delivered' };
  if (r < mix.ok + mix.transient) {
    const count = 1 + (h[4]! % 2);
    const failures = Array.from({ length: count }, (_, i) => TRANSIENT[h[5 + i]! % TRANSIENT.length]!);
    return { kind: 'transient', failures, expected: 'delivered' };
  }
  return { kind: 'permanent', failures: [h[8]! % 2 === 0 ? '400' : '410'], expected: 'failed' };
}

/** Node retry config of the soak: 4 attempts, 1 s apart, so two transient failures leave one spare. */
export const SOAK_RETRY = {
  max_attempts: 4,
  backoff: 'fixed',
  initial_delay_seconds: 1,
  max_delay_seconds: 1,
} as const;

// ---------------------------------------------------------------- the receiver

/** One request as the receiver saw it and what it did. */
export interface Seen {
  readonly deliveryId: string;
  readonly attempt: number;
  /** This delivery's request number at the receiver, 1-based. */
  readonly n: number;
  readonly behaviour: Behaviour;
  readonly atMs: number;
}

export interface ScriptedReceiver {
  readonly origin: string;
  readonly log: readonly Seen[];
  /** 2xx answers per delivery id. */
  okCount(id: string): number;
  close(): Promise<void>;
}

/** How long a hang holds the socket: longer than the request timeout the soak runs with. */
export async function startScriptedReceiver(options: {
  hangMs: number;
  script?: (id: string) => Script;
}): Promise<ScriptedReceiver> {
  const script = options.script ?? ((id: string) => scriptFor(id));
  const log: Seen[] = [];
  const counts = new Map<string, number>();
  const oks = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const id = String(request.headers['x-dograh-delivery-id'] ?? '');
    const attempt = Number(request.headers['x-dograh-delivery-attempt'] ?? 0);
    request.resume();
    request.on('end', () => {
      const n = (counts.get(id) ?? 0) + 1;
      counts.set(id, n);
      const behaviour = script(id).failures[n - 1] ?? '200';
      log.push({ deliveryId: id, attempt, n, behaviour, atMs: Date.now() });
      switch (behaviour) {
        case '200':
          oks.set(id, (oks.get(id) ?? 0) + 1);
          response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
          return;
        case '429':
          response.writeHead(429, { 'retry-after': '1' }).end('slow down');
          return;
        case 'reset':
          // After the request was read: the worst case for a sender.
          request.socket.resetAndDestroy();
          return;
        case 'hang': {
          const timer = setTimeout(() => request.socket.destroy(), options.hangMs);
          request.socket.once('close', () => clearTimeout(timer));
          return;
        }
        default:
          response.writeHead(Number(behaviour)).end(behaviour);
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    okCount: (id) => oks.get(id) ?? 0,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

// ---------------------------------------------------------------- events

/** A run-completed event with `nodes` webhook nodes, each to its own path on `origin`. */
export function soakEvent(
  run: number,
  nodes: number,
  origin: string,
): { event: Record<string, unknown>; ids: string[] } {
  const list = Array.from({ length: nodes }, (_, i) => ({
    id: `n${i}`,
    type: 'webhook',
    position: { x: 0, y: 0 },
    data: {
      name: `soak node ${i}`,
      enabled: true,
      http_method: 'POST',
      endpoint_url: `${origin}/soak/${run}/${i}`,
      credential_uuid: null,
      custom_headers: [],
      payload_template: { run: '{{workflow_run_id}}', node: String(i), who: '{{initial_context.customer_name}}' },
      retry_config: SOAK_RETRY,
    },
  }));
  const detail = {
    organization_id: ORG,
    workflow_run_id: run,
    workflow_run_name: `soak run ${run}`,
    workflow_id: 77,
    workflow_name: 'soak',
    campaign_id: null,
    call_time: '2026-11-27T09:30:00Z',
    initial_context: { customer_name: 'Ada' },
    gathered_context: {},
    cost_info: {},
    annotations: {},
    recording_url: null,
    transcript_url: null,
    workflow_definition: { nodes: list, edges: [] },
  };
  return { event: detail, ids: list.map((n) => deliveryId(String(ORG), run, n.id)) };
}

/** Sends details to a PutEvents endpoint, up to 10 a request, retrying what was not accepted. */
export async function putEvents(endpoint: string, details: readonly Record<string, unknown>[]): Promise<void> {
  const client = new EventBridgeClient({ ...emulatorClientConfig(endpoint), maxAttempts: 5 });
  try {
    for (let i = 0; i < details.length; i += 10) {
      const entries = details
        .slice(i, i + 10)
        .map((d) => ({ Source: DEFAULT_EVENT_SOURCE, DetailType: DEFAULT_DETAIL_TYPE, Detail: JSON.stringify(d) }));
      const out = await client.send(new PutEventsCommand({ Entries: entries }));
      if ((out.FailedEntryCount ?? 0) > 0)
        throw new Error(`PutEvents: ${out.FailedEntryCount} entries refused: ${JSON.stringify(out.Entries)}`);
    }
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------- webhooks dev

export interface DevProcess {
  readonly child: ChildProcess;
  readonly intake: string;
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  /** The delivery queue's URL. */
  readonly deliveryQueue: string;
  /** The slow lane's URL, when the dev server has one. */
  readonly slowQueue?: string;
  /** What it printed; with `logs`, less the JSON log lines, which are read as they come. */
  readonly output: () => string;
  /** With `logs`: what its reconciler did so far, from the reconciler's JSON log lines. */
  readonly reconciled: () => ReconcilerTally;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  /** SIGINT, and wait for the clean stop. */
  stop(): Promise<void>;
}

/** What the soak reads of `.webhooks/dev.json`. */
interface DevStateRead {
  readonly pid: number;
  readonly intake: string;
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  readonly queues: { readonly delivery: { readonly url: string }; readonly slow?: { readonly url: string } };
}

/**
 * Starts the real bin: `webhooks dev --data DIR --no-receiver --no-example --port 0`, in `cwd` (where
 * .webhooks/dev.json goes); with `logs`, `--logs` too, and its JSON log lines are tallied, not kept.
 */
export async function startDev(options: {
  cwd: string;
  dataDir: string;
  requestTimeoutSeconds: number;
  circuitThreshold?: number;
  logs?: boolean;
}): Promise<DevProcess> {
  const statePath = join(options.cwd, '.webhooks', 'dev.json');
  await rm(statePath, { force: true });
  await mkdir(options.cwd, { recursive: true });
  const child = spawn(
    NODE,
    [
      join(ROOT, 'cli/bin.ts'),
      'dev',
      '--data',
      options.dataDir,
      '--no-receiver',
      '--no-example',
      '--port',
      '0',
      '--request-timeout',
      String(options.requestTimeoutSeconds),
      '--circuit-threshold',
      String(options.circuitThreshold ?? 5),
      ...(options.logs === true ? ['--logs'] : []),
    ],
    { cwd: options.cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let reconciled = NO_RECONCILER_RUNS;
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  if (options.logs === true) {
    // One JSON line per thing the functions do: tens of thousands in a soak, so read, not kept.
    let partial = '';
    child.stderr?.on('data', (c: Buffer) => {
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (isJsonLogLine(line)) reconciled = addReconcilerLine(reconciled, line);
        else output += `${line}\n`;
      }
    });
  } else child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const deadline = Date.now() + 60_000;
  let state: DevStateRead | undefined;
  while (state === undefined) {
    if (child.exitCode !== null)
      throw new Error(`webhooks dev exited (${child.exitCode}) before it was up:\n${output}`);
    if (Date.now() > deadline) throw new Error(`webhooks dev not up after 60 s:\n${output}`);
    if (existsSync(statePath)) {
      try {
        const parsed = JSON.parse(await readFile(statePath, 'utf8')) as DevStateRead;
        if (parsed.pid === child.pid) state = parsed;
      } catch {
        // Being written: read it again.
      }
    }
    if (state === undefined) await sleep(100);
  }
  return {
    child,
    intake: state.intake,
    dynamoEndpoint: state.dynamoEndpoint,
    sqsEndpoint: state.sqsEndpoint,
    deliveryQueue: state.queues.delivery.url,
    ...(state.queues.slow === undefined ? {} : { slowQueue: state.queues.slow.url }),
    output: () => output,
    reconciled: () => reconciled,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}

/**
 * Reads the outcome log of a running dev stack until every id is final and the
 * delivery queues (main and slow lane) are empty, or the time is up. Final alone is not the end: a
 * record the reconciler failed as stranded (its first attempt's outcome lost, no
 * request kept) comes back to life when its message turns up late behind a
 * backlog, so every run is read again until no message is left to change one.
 */
export async function waitAllFinal(
  dev: Pick<DevProcess, 'dynamoEndpoint' | 'sqsEndpoint' | 'deliveryQueue' | 'slowQueue'>,
  runs: ReadonlyMap<number, readonly string[]>,
  timeoutMs: number,
  progress?: (final: number, total: number, queued: number) => void,
): Promise<Map<string, DeliveryRecord>> {
  const client = new DynamoDBClient(emulatorClientConfig(dev.dynamoEndpoint));
  const sqs = new SQSClient(emulatorClientConfig(dev.sqsEndpoint));
  const queries = createDynamoDeliveryQueries({ client, tableName: LOCAL_TABLE_NAME });
  const records = new Map<string, DeliveryRecord>();
  const total = [...runs.values()].reduce((n, ids) => n + ids.length, 0);
  // Created during this soak: a day back and the wait ahead, a Query or three per run, not the retention's 32.
  const window = {
    since: new Date(Date.now() - 86_400_000).toISOString(),
    until: new Date(Date.now() + timeoutMs + 3_600_000).toISOString(),
  };
  let open = new Set(runs.keys());
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      for (const run of [...open]) {
        let list: DeliveryRecord[];
        try {
          list = await queries.listByRun(run, window);
        } catch {
          continue;
        }
        for (const r of list) records.set(r.delivery_id, r);
        if ((runs.get(run) ?? []).every((id) => isFinal(records.get(id)))) open.delete(run);
      }
      const final = [...runs.values()].flat().filter((id) => isFinal(records.get(id))).length;
      const lanes = [dev.deliveryQueue, ...(dev.slowQueue === undefined ? [] : [dev.slowQueue])];
      const queued =
        open.size === 0 ? (await Promise.all(lanes.map((url) => messagesIn(sqs, url)))).reduce((a, b) => a + b, 0) : -1;
      progress?.(final, total, queued);
      if (Date.now() > deadline) return records;
      if (open.size === 0) {
        if (queued === 0) return records;
        // Final, but a message is still queued: read every run again once it has been handled.
        open = new Set(runs.keys());
      }
      await sleep(2_000);
    }
  } finally {
    client.destroy();
    sqs.destroy();
  }
}

/** Messages in a queue: visible, in flight and delayed; -1 when it cannot be read. */
async function messagesIn(sqs: SQSClient, queueUrl: string): Promise<number> {
  try {
    return messagesHeld(await readQueueDepth(sqs, queueUrl));
  } catch {
    return -1;
  }
}

function isFinal(record: DeliveryRecord | undefined): boolean {
  return record !== undefined && FINAL_STATUSES.has(record.status);
}

// ---------------------------------------------------------------- accounting

export interface Duplicate {
  readonly deliveryId: string;
  /** 2xx answers the receiver gave for it. */
  readonly oks: number;
  readonly attempts: readonly number[];
  readonly cause: string;
}

export interface Accounting {
  readonly total: number;
  readonly delivered: number;
  readonly failed: number;
  /** No final record at the end. */
  readonly lost: readonly { deliveryId: string; status: string }[];
  /** Final status the receiver's log contradicts: delivered without any 2xx, or failed after a 2xx. */
  readonly wronglyFinal: readonly { deliveryId: string; status: string; oks: number }[];
  /** Final as the log allows, but not as scripted (e.g. a transient delivery that ran out of attempts). */
  readonly offScript: readonly {
    deliveryId: string;
    expected: string;
    status: string;
    attempts: number;
    requests: number;
  }[];
  readonly duplicates: readonly Duplicate[];
  /** The same attempt number received twice for one delivery (a resend after a reset). */
  readonly attemptResent: number;
  /** Series longer than max_attempts at the receiver. */
  readonly overMaxAttempts: number;
  readonly requests: number;
  readonly behaviours: Readonly<Record<string, number>>;
}

/** Every delivery against the receiver's own log; `kills` are the epoch ms of each SIGKILL. */
export function account(
  ids: readonly string[],
  records: ReadonlyMap<string, DeliveryRecord>,
  receiver: ScriptedReceiver,
  kills: readonly number[],
  script: (id: string) => Script = (id) => scriptFor(id),
): Accounting {
  const byId = new Map<string, Seen[]>();
  const behaviours: Record<string, number> = {};
  for (const seen of receiver.log) {
    let list = byId.get(seen.deliveryId);
    if (list === undefined) {
      list = [];
      byId.set(seen.deliveryId, list);
    }
    list.push(seen);
    behaviours[seen.behaviour] = (behaviours[seen.behaviour] ?? 0) + 1;
  }
  const lost: Accounting['lost'][number][] = [];
  const wronglyFinal: Accounting['wronglyFinal'][number][] = [];
  const offScript: Accounting['offScript'][number][] = [];
  const duplicates: Duplicate[] = [];
  let delivered = 0;
  let failed = 0;
  let attemptResent = 0;
  let overMaxAttempts = 0;
  for (const id of ids) {
    const record = records.get(id);
    const seen = byId.get(id) ?? [];
    const oks = seen.filter((s) => s.behaviour === '200');
    if (record === undefined || !FINAL_STATUSES.has(record.status)) {
      lost.push({ deliveryId: id, status: record?.status ?? 'no record' });
      continue;
    }
    if (record.status === 'delivered') delivered++;
    if (record.status === 'failed') failed++;
    if ((record.status === 'delivered' && oks.length === 0) || (record.status === 'failed' && oks.length > 0)) {
      wronglyFinal.push({ deliveryId: id, status: record.status, oks: oks.length });
    } else if (record.status !== script(id).expected) {
      offScript.push({
        deliveryId: id,
        expected: script(id).expected,
        status: record.status,
        attempts: record.attempts,
        requests: seen.length,
      });
    }
    const attempts = seen.map((s) => s.attempt);
    attemptResent += attempts.length - new Set(attempts).size;
    if (Math.max(0, ...attempts) > record.max_attempts) overMaxAttempts++;
    if (oks.length > 1) {
      const first = oks[0]!.atMs;
      const last = oks.at(-1)!.atMs;
      const kill = kills.find((k) => k >= first && k <= last);
      const cause =
        kill !== undefined
          ? `crash: answered 2xx ${kill - first} ms before the SIGKILL, the outcome was not recorded, sent again after the restart under the same id`
          : 'sent again within one process (a redelivered copy after a lease ran out)';
      duplicates.push({ deliveryId: id, oks: oks.length, attempts: oks.map((o) => o.attempt), cause });
    }
  }
  return {
    total: ids.length,
    delivered,
    failed,
    lost,
    wronglyFinal,
    offScript,
    duplicates,
    attemptResent,
    overMaxAttempts,
    requests: receiver.log.length,
    behaviours,
  };
}
