import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEventIntake, type BusEvent } from '../../cli/event-intake.ts';
import { emulatorClientConfig } from '../../shared/local/emulator-client-config.ts';
import { openEventJournal } from '../../shared/local/event-journal.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhooks-journal-'));
});
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const entry = (n: number) => ({
  Source: 'dograh.workflows',
  DetailType: 'Workflow Run Completed',
  Detail: JSON.stringify({ n }),
});

describe('the event journal', () => {
  it('hands back, at the next open, exactly the events that were appended and never marked done, in order', async () => {
    const path = join(dir, 'a.jsonl');
    const first = await openEventJournal<{ id: string; n: number }>(path);
    expect(first.pending).toEqual([]);
    await first.journal.append([
      { id: 'e1', n: 1 },
      { id: 'e2', n: 2 },
    ]);
    await first.journal.append([{ id: 'e3', n: 3 }]);
    await first.journal.done('e2');
    // No close: as if the process were killed here.
    const second = await openEventJournal<{ id: string; n: number }>(path);
    expect(second.pending).toEqual([
      { id: 'e1', n: 1 },
      { id: 'e3', n: 3 },
    ]);
    await second.journal.done('e1');
    await second.journal.close();
    const third = await openEventJournal<{ id: string; n: number }>(path);
    expect(third.pending).toEqual([{ id: 'e3', n: 3 }]);
    await third.journal.close();
  });

  it('ignores a line a crash cut short, and keeps the whole ones', async () => {
    const path = join(dir, 'b.jsonl');
    const first = await openEventJournal<{ id: string }>(path);
    await first.journal.append([{ id: 'kept' }]);
    await first.journal.close();
    await appendFile(path, '{"event":{"id":"torn"');
    const second = await openEventJournal<{ id: string }>(path);
    expect(second.pending).toEqual([{ id: 'kept' }]);
    await second.journal.close();
    // Reopening rewrote the file with only what is pending.
    expect((await readFile(path, 'utf8')).trim().split('\n')).toEqual(['{"event":{"id":"kept"}}']);
  });
});

describe('the PutEvents intake with a journal', () => {
  it('answers only after the events are persisted, and hands them on after that', async () => {
    const order: string[] = [];
    const intake = await startEventIntake({
      port: 0,
      busName: 'default',
      persist: async (events) => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        order.push(`persisted ${events.length}`);
      },
      onEvent: (event: BusEvent) => order.push(`handed on ${JSON.stringify(event.detail)}`),
    });
    const client = new EventBridgeClient(emulatorClientConfig(intake.endpoint));
    try {
      const out = await client.send(new PutEventsCommand({ Entries: [entry(1), entry(2)] }));
      order.push('answered');
      expect(out.FailedEntryCount).toBe(0);
      expect(order).toEqual(['persisted 2', 'handed on {"n":1}', 'handed on {"n":2}', 'answered']);
    } finally {
      client.destroy();
      await intake.close();
    }
  });

  it('answers 500 and hands nothing on when the events cannot be persisted', async () => {
    const handed: BusEvent[] = [];
    let calls = 0;
    const intake = await startEventIntake({
      port: 0,
      busName: 'default',
      persist: async () => {
        calls++;
        throw new Error('disk full');
      },
      onEvent: (event) => handed.push(event),
    });
    const client = new EventBridgeClient({ ...emulatorClientConfig(intake.endpoint), maxAttempts: 1 });
    try {
      await expect(client.send(new PutEventsCommand({ Entries: [entry(1)] }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 500 },
      });
      expect(calls).toBe(1);
      expect(handed).toEqual([]);
    } finally {
      client.destroy();
      await intake.close();
    }
  });
});

describe('the emulator clients', () => {
  it('survive a connection reset: the request is sent again and answered', async () => {
    let requests = 0;
    const server = createServer((request, response) => {
      requests++;
      request.resume();
      if (requests === 1) {
        request.socket.resetAndDestroy();
        return;
      }
      response
        .writeHead(200, { 'content-type': 'application/x-amz-json-1.0' })
        .end(JSON.stringify({ Item: { pk: { S: 'x' } } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new DynamoDBClient(
      emulatorClientConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
    try {
      const out = await client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'x' } } }));
      expect(out.Item).toEqual({ pk: { S: 'x' } });
      expect(requests).toBe(2);
    } finally {
      client.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
