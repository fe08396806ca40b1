import { existsSync } from 'node:fs';
import { open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';

/**
 * A write-ahead journal of the events a local intake accepted, so that an event
 * answered OK is never lost to a crash: each accepted batch is appended and
 * fsynced before the intake answers, and marked done once the render function has
 * handled it (its messages are on the persistent queue, its failures recorded).
 * At the next start every event without its done mark is handed back to be
 * rendered again; rendering twice is harmless (same delivery ids: the deliver side
 * drops the copies).
 *
 * One JSON object a line: `{"event": {...}}` or `{"done": "<event id>"}`. A line
 * cut short by a crash is ignored: its batch was never answered.
 */
export interface EventJournal<E extends JournalEvent = JournalEvent> {
  /** Appends the events and waits until they are on disk. */
  append(events: readonly E[]): Promise<void>;
  /** Marks an event handled. Not synced: a lost mark only means the event is rendered once more. */
  done(id: string): Promise<void>;
  close(): Promise<void>;
}

/** What the journal needs of an event: an id to mark done. */
export interface JournalEvent {
  readonly id: string;
}

/** Above this size, a journal with nothing pending is emptied. */
const COMPACT_BYTES = 1024 * 1024;

/**
 * Opens (or creates) the journal at `path` and returns the events of the last
 * run that were accepted but never marked done, in the order they came. The
 * file is rewritten to hold only those.
 */
export async function openEventJournal<E extends JournalEvent>(
  path: string,
): Promise<{ journal: EventJournal<E>; pending: E[] }> {
  const pending = existsSync(path) ? unfinished<E>(await readFile(path, 'utf8')) : [];
  // Written aside and renamed: a crash here leaves the old journal, whole.
  await writeFile(`${path}.tmp`, pending.map((event) => `${JSON.stringify({ event })}\n`).join(''));
  await syncFile(`${path}.tmp`);
  await rename(`${path}.tmp`, path);
  const file = await open(path, 'a');
  const open_ = new Set(pending.map((e) => e.id));
  let bytes = (await file.stat()).size;
  // One operation at a time, in order: a done mark never overtakes its event.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(step: (f: FileHandle) => Promise<T>): Promise<T> => {
    const next = queue.then(() => step(file));
    queue = next.catch(() => undefined);
    return next;
  };
  const write = async (f: FileHandle, text: string) => {
    await f.write(text);
    bytes += Buffer.byteLength(text);
  };

  const journal: EventJournal<E> = {
    append(events) {
      return serial(async (f) => {
        await write(f, events.map((event) => `${JSON.stringify({ event })}\n`).join(''));
        await f.sync();
        for (const e of events) open_.add(e.id);
      });
    },
    done(id) {
      return serial(async (f) => {
        open_.delete(id);
        await write(f, `${JSON.stringify({ done: id })}\n`);
        if (open_.size === 0 && bytes > COMPACT_BYTES) {
          await f.truncate(0);
          bytes = 0;
        }
      });
    },
    close() {
      return serial((f) => f.close());
    },
  };
  return { journal, pending };
}

function unfinished<E extends JournalEvent>(text: string): E[] {
  const events = new Map<string, E>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let entry: { event?: E; done?: string };
    try {
      entry = JSON.parse(line) as { event?: E; done?: string };
    } catch {
      continue;
    }
    if (typeof entry.done === 'string') events.delete(entry.done);
    else if (entry.event !== undefined && typeof entry.event.id === 'string') events.set(entry.event.id, entry.event);
  }
  return [...events.values()];
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
