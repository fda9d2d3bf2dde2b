// Decides when the superblock is written, into which slot, and when what it records takes
// effect. It never writes on the hot path by itself: the commit loop asks `due()` each
// batch and, when true, writes the planned copy together with the batch, under the same
// datasync. Rules:
//  - a change somebody waits for (trim, epoch, session, flush, close) is written at once,
//    and its promise resolves when BOTH slots hold it: then no fallback to the other copy
//    can undo it;
//  - other changes (the applied mark, the durable mark) ride along every `everyBatches`
//    batches: losing one only means re-applying a few entries, which is harmless;
//  - space released by a trim is reusable only once both slots record the new tail
//    (`effectiveTail`): recovery may start from either copy, and its tail must still point
//    at the records that were there.
import { deferred, type Deferred } from './deferred.js';
import type { ScanPoint } from './scan.js';
import { encodeSuperblock, slotPosition, type SlotIndex, type Superblock } from './superblock.js';

export type SuperblockContent = Omit<Superblock, 'generation'>;

interface SlotState {
  readonly generation: number;
  /** The keeper's state version this copy holds. */
  readonly version: number;
  readonly tail: ScanPoint;
}

export interface SuperblockWrite {
  readonly slot: SlotIndex;
  readonly position: number;
  readonly bytes: Uint8Array;
  readonly state: SlotState;
}

interface Waiter {
  target: number;
  readonly done: Deferred<void>;
}

export class SuperblockKeeper {
  private version = 0;
  private readonly slots: [SlotState, SlotState];
  private batchesSinceWrite = 0;
  // Two waiters at most: `current` has a fixed target, reached within two writes; requests
  // for newer versions gather in `next`, so a steady stream of requests cannot starve one.
  private current: Waiter | undefined;
  private next: Waiter | undefined;

  constructor(
    generations: readonly [number, number],
    tail: ScanPoint,
    private readonly everyBatches: number,
  ) {
    this.slots = [
      { generation: generations[0], version: 0, tail },
      { generation: generations[1], version: 0, tail },
    ];
  }

  /** Records that the state to persist changed; returns its new version. */
  touch(): number {
    this.version += 1;
    return this.version;
  }

  /** Resolves once both slots hold `version` (default: the latest) or newer. */
  waitForBoth(version = this.version): Promise<void> {
    if (this.bothHold() >= version) return Promise.resolve();
    if (this.current === undefined) {
      this.current = { target: version, done: deferred() };
      return this.current.done.promise;
    }
    if (version <= this.current.target) return this.current.done.promise;
    this.next ??= { target: version, done: deferred() };
    this.next.target = Math.max(this.next.target, version);
    return this.next.done.promise;
  }

  /**
   * Whether the commit loop should write a copy now: alone when someone waits for it,
   * otherwise only alongside a batch (`withBatch`), so it never costs a datasync of its own.
   */
  due(withBatch: boolean): boolean {
    if (this.current !== undefined) return true;
    const newest = Math.max(this.slots[0].version, this.slots[1].version);
    return withBatch && this.version > newest && this.batchesSinceWrite >= this.everyBatches;
  }

  countBatch(): void {
    this.batchesSinceWrite += 1;
  }

  /** The next copy to write: the current state, into the slot with the older generation. */
  plan(content: SuperblockContent, tail: ScanPoint): SuperblockWrite {
    const slot: SlotIndex = this.slots[0].generation <= this.slots[1].generation ? 0 : 1;
    const generation = Math.max(this.slots[0].generation, this.slots[1].generation) + 1;
    const bytes = encodeSuperblock({ ...content, generation });
    return { slot, position: slotPosition(slot), bytes, state: { generation, version: this.version, tail } };
  }

  /** Call after the datasync that covered `write` returned. */
  written(write: SuperblockWrite): void {
    this.slots[write.slot] = write.state;
    this.batchesSinceWrite = 0;
    while (this.current !== undefined && this.bothHold() >= this.current.target) {
      this.current.done.resolve();
      this.current = this.next;
      this.next = undefined;
    }
  }

  /** The tail both copies record: records from here on must stay where they are. */
  get effectiveTail(): ScanPoint {
    const [a, b] = this.slots;
    return a.version <= b.version ? a.tail : b.tail;
  }

  get generation(): number {
    return Math.max(this.slots[0].generation, this.slots[1].generation);
  }

  /** Rejects every waiter (the log failed or closed). */
  failAll(error: unknown): void {
    for (const waiter of [this.current, this.next]) {
      // A caller may have stopped waiting; do not turn that into an unhandled rejection.
      waiter?.done.promise.catch(() => undefined);
      waiter?.done.reject(error);
    }
    this.current = undefined;
    this.next = undefined;
  }

  private bothHold(): number {
    return Math.min(this.slots[0].version, this.slots[1].version);
  }
}
