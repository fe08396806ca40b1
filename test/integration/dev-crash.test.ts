import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  account,
  putEvents,
  scriptFor,
  soakEvent,
  startDev,
  startScriptedReceiver,
  waitAllFinal,
  type DevProcess,
  type ScriptedReceiver,
} from '../../bench/soak-lib.ts';

// `webhooks dev --data` killed with SIGKILL, as a crash kills it: the real bin in a
// child process (one of the few tests that spawn, because a kill cannot happen in-process),
// its queues and outcome log on disk, and a loopback receiver that logs what it answered.

// Mostly 200s, some transient failures, a few permanent ones: the soak's mix.
const script = (id: string) => scriptFor(id);

let work: string | undefined;
let receiver: ScriptedReceiver | undefined;
const devs: DevProcess[] = [];

afterAll(async () => {
  for (const dev of devs) if (dev.child.exitCode === null && dev.child.signalCode === null) await dev.kill();
  await receiver?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('webhooks dev --data after a SIGKILL', () => {
  it("loses no delivery: those in flight, and those of events the intake had accepted but not rendered, all end final as the receiver's log says", async () => {
    work = await mkdtemp(join(tmpdir(), 'webhooks-crash-'));
    const dataDir = join(work, 'data');
    receiver = await startScriptedReceiver({ hangMs: 2_000, script });
    const events = [1, 2, 3].map((i) => soakEvent(700_000 + i, 50, receiver!.origin));
    const runs = new Map(events.map((e, i) => [700_001 + i, e.ids]));
    const ids = events.flatMap((e) => e.ids);

    const first = await startDev({ cwd: work, dataDir, requestTimeoutSeconds: 1 });
    devs.push(first);
    await putEvents(first.intake, [events[0]!.event]);
    // Mid-flight: some of the first run's deliveries answered, others queued or being sent.
    const firstIds = new Set(events[0]!.ids);
    while (new Set(receiver.log.filter((s) => firstIds.has(s.deliveryId)).map((s) => s.deliveryId)).size < 15) {
      expect(first.child.exitCode, first.output()).toBeNull();
      await sleep(50);
    }
    // Two more events, answered OK by the intake; 300 ms later most are not rendered yet.
    await putEvents(first.intake, [events[1]!.event, events[2]!.event]);
    await sleep(300);
    const killedAt = Date.now();
    await first.kill();
    const seenAtKill = new Set(receiver.log.map((s) => s.deliveryId)).size;
    expect(seenAtKill).toBeLessThan(ids.length);

    const second = await startDev({ cwd: work, dataDir, requestTimeoutSeconds: 1 });
    devs.push(second);
    const records = await waitAllFinal(second, runs, 150_000);
    await second.stop();

    const result = account(ids, records, receiver, [killedAt], script);
    expect(result.lost).toEqual([]);
    expect(result.wronglyFinal).toEqual([]);
    expect(result.delivered + result.failed).toBe(150);
    // At least once: every scripted delivery reached the receiver, and a duplicate 2xx is
    // always explained: the crash, or (on a machine busy enough to stall an attempt past its
    // lease) a redelivered copy that took the attempt over. Both come under the same id.
    for (const id of ids) expect(receiver.log.some((s) => s.deliveryId === id)).toBe(true);
    for (const d of result.duplicates)
      expect(d.cause).toMatch(/^(crash|sent again within one process \(a redelivered copy after a lease ran out\))/);
  }, 200_000);
});
