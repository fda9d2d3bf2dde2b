// A resynchronization's progress, persisted beside the volume so that a crash of either side
// resumes it where it stopped instead of from 0%. Two files: the plan (the ranges to compare,
// written once) and the progress (small, rewritten after every chunk whose copied data is
// durable). Written with write-to-temp, fsync, rename, so a crash leaves the old or the new.
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { ByteRange } from '../replication/index.js';

export type ResyncState = 'running' | 'verifying' | 'finished' | 'failed';

export interface ResyncPlan {
  readonly epoch: number;
  readonly sourceNode: string;
  readonly full: boolean;
  /** The primary's applied sequence when the plan was made: the copy follows from here. */
  readonly baseSeq: number;
  readonly blockBytes: number;
  readonly regionBytes: number;
  readonly regionsTotal: number;
  readonly ranges: readonly ByteRange[];
  readonly startedAtMs: number;
}

export interface ResyncProgress {
  readonly state: ResyncState;
  /** Next range to compare, and the offset inside it. */
  readonly rangeIndex: number;
  readonly rangeOffset: number;
  readonly bytesDone: number;
  readonly bytesCopied: number;
  readonly message: string;
  readonly finishedAtMs: number;
}

export class ResyncRecordError extends BunkerError<'Corrupt'> {}

const PLAN_FILE = 'resync-plan.json';
const PROGRESS_FILE = 'resync-progress.json';

export class ResyncRecordStore {
  constructor(private readonly dir: string) {}

  async load(): Promise<{ plan: ResyncPlan; progress: ResyncProgress } | null> {
    const plan = await this.read(PLAN_FILE);
    const progress = await this.read(PROGRESS_FILE);
    if (plan === null || progress === null) return null;
    return { plan: plan as ResyncPlan, progress: progress as ResyncProgress };
  }

  async savePlan(plan: ResyncPlan): Promise<void> {
    await this.write(PLAN_FILE, plan);
  }

  async saveProgress(progress: ResyncProgress): Promise<void> {
    await this.write(PROGRESS_FILE, progress);
  }

  async clear(): Promise<void> {
    await rm(join(this.dir, PROGRESS_FILE), { force: true });
    await rm(join(this.dir, PLAN_FILE), { force: true });
  }

  private async read(name: string): Promise<unknown> {
    const path = join(this.dir, name);
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (text === null) return null;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null) throw new Error('not an object');
      return value;
    } catch (error) {
      throw new ResyncRecordError('Corrupt', `${path}: ${error instanceof Error ? error.message : String(error)}`, {
        hint: 'remove the resync-*.json files of the volume; the operator restarts the resynchronization',
      });
    }
  }

  private async write(name: string, value: unknown): Promise<void> {
    const path = join(this.dir, name);
    const temp = `${path}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(JSON.stringify(value));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  }
}
