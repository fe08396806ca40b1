/** A queue as a move names it: its URL (what receives and sends take) and ARN (what move tasks take). */
export interface MoveQueue {
  readonly url: string;
  readonly arn: string;
}

/** Where a move stands; the statuses are those of SQS message move tasks. */
export type MoveStatus = 'RUNNING' | 'COMPLETED' | 'CANCELLING' | 'CANCELLED' | 'FAILED';

export interface MoveProgress {
  readonly status: MoveStatus;
  /** Messages already on the destination. */
  readonly moved: number;
  /** Messages on the source when the move started; null until SQS has counted them. */
  readonly toMove: number | null;
  /** Why the move failed, when `status` is FAILED. */
  readonly failureReason: string | null;
}

/** Statuses after which nothing moves any more. */
export const MOVE_DONE_STATUSES: ReadonlySet<MoveStatus> = new Set(['COMPLETED', 'CANCELLED', 'FAILED']);

/** One move from the source queue to the destination, under way. */
export interface MoveTask {
  /** The SQS task handle, or a local name: for people and logs. */
  readonly id: string;
  progress(): Promise<MoveProgress>;
  /** Resolves with the final progress once the move is done, calling `onProgress` each time progress is read. */
  wait(onProgress?: (progress: MoveProgress) => void): Promise<MoveProgress>;
}

export interface MoveOptions {
  /** Messages moved per second at most; unset lets the mover choose (SQS: as fast as it sees fit). */
  readonly maxPerSecond?: number;
}

/**
 * Moves the messages waiting on one queue to another: the operator's redrive
 * of dead letters back to the delivery queue. Bodies and message attributes
 * travel unchanged, so the deliver function can tell a redriven final failure
 * (it carries `dead_lettered_at`) from a duplicate.
 */
export interface MessageMover {
  /** Messages waiting on the source queue now, as SQS counts them (approximate). */
  waiting(): Promise<number>;
  start(options?: MoveOptions): Promise<MoveTask>;
}
