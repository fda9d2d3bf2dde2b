// What the operator last told this agent about a volume, persisted before the agent answers:
// the volume's shape (size, log size, fill policy, region size), the address of every peer,
// and the replication core's persisted intent (role, epoch, peers, drain record). A restarted
// agent reads it and converges to that role by itself; it never needs the operator to resend
// what it already acknowledged. Written with write-to-temp, fsync, rename, fsync-dir so a
// crash leaves either the old or the new record, never half of one.
import { open, readFile, rename, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import type { PersistedIntent, Role } from '../replication/index.js';

export type FillPolicyName = 'trackChanges' | 'block' | 'fail';

export interface VolumeShape {
  readonly volume: string;
  readonly volumeUid: string;
  readonly sizeBytes: number;
  readonly logBytes: number;
  readonly fillPolicy: FillPolicyName;
  readonly regionBytes: number;
}

export interface VolumeRecord {
  readonly shape: VolumeShape;
  /** gRPC address of each peer node, as the operator last gave it. */
  readonly addresses: Readonly<Record<string, string>>;
  readonly intent: PersistedIntent;
}

const RECORD_FILE = 'volume.json';
const RETIRED_FILE = 'volume.released.json';
const HINT = 'move the volume folder aside; the operator will reconfigure the volume';

export class IntentError extends BunkerError<'Corrupt' | 'Io'> {}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Reader {
  constructor(private readonly path: string) {}
  fail(message: string): never {
    throw new IntentError('Corrupt', `${this.path}: ${message}`, { hint: HINT });
  }
  record(value: unknown, field: string): Record<string, unknown> {
    return isRecord(value) ? value : this.fail(`${field} is not an object`);
  }
  string(value: unknown, field: string): string {
    return typeof value === 'string' ? value : this.fail(`${field} is not a string`);
  }
  count(value: unknown, field: string): number {
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : this.fail(`${field} is not a non-negative integer`);
  }
  oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
    return allowed.find((a) => a === value) ?? this.fail(`${field} is ${JSON.stringify(value)}, expected one of ${allowed.join(', ')}`);
  }
  node(value: unknown, field: string): NodeName | null {
    return value === null ? null : (this.string(value, field) as NodeName);
  }
}

function parseIntent(raw: unknown, read: Reader): PersistedIntent {
  const intent = read.record(raw, 'intent');
  const modes = read.record(intent['modes'], 'intent.modes');
  const drain = intent['drain'];
  const divergence = intent['divergenceSeq'];
  return {
    role: read.oneOf<Role>(intent['role'], ['none', 'primary', 'bunker', 'secondary'], 'intent.role'),
    epoch: read.count(intent['epoch'], 'intent.epoch') as Epoch,
    modes: {
      recovery: read.oneOf(modes['recovery'], ['sync', 'none'] as const, 'intent.modes.recovery'),
      secondary: read.oneOf(modes['secondary'], ['async', 'sync'] as const, 'intent.modes.secondary'),
    },
    primary: read.node(intent['primary'], 'intent.primary'),
    bunker: read.node(intent['bunker'], 'intent.bunker'),
    secondary: read.node(intent['secondary'], 'intent.secondary'),
    drain: drain === null ? null : { startSeq: read.count(read.record(drain, 'intent.drain')['startSeq'], 'intent.drain.startSeq') as Seq },
    divergenceSeq: divergence === null ? null : (read.count(divergence, 'intent.divergenceSeq') as Seq),
  };
}

export function parseVolumeRecord(raw: unknown, path: string): VolumeRecord {
  const read = new Reader(path);
  const top = read.record(raw, 'record');
  const shape = read.record(top['shape'], 'shape');
  const addresses = read.record(top['addresses'], 'addresses');
  return {
    shape: {
      volume: read.string(shape['volume'], 'shape.volume'),
      volumeUid: read.string(shape['volumeUid'], 'shape.volumeUid'),
      sizeBytes: read.count(shape['sizeBytes'], 'shape.sizeBytes'),
      logBytes: read.count(shape['logBytes'], 'shape.logBytes'),
      fillPolicy: read.oneOf<FillPolicyName>(shape['fillPolicy'], ['trackChanges', 'block', 'fail'], 'shape.fillPolicy'),
      regionBytes: read.count(shape['regionBytes'], 'shape.regionBytes'),
    },
    addresses: Object.fromEntries(Object.entries(addresses).map(([node, address]) => [node, read.string(address, `addresses.${node}`)])),
    intent: parseIntent(top['intent'], read),
  };
}

async function writeDurably(dir: string, name: string, text: string): Promise<void> {
  const target = join(dir, name);
  const temp = `${target}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temp, target);
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

export class IntentStore {
  constructor(private readonly dataDir: string) {}

  volumeDir(volume: string): string {
    // Volume ids are namespace/name; `__` cannot occur in either part.
    return join(this.dataDir, 'volumes', volume.replaceAll('/', '__'));
  }

  async save(record: VolumeRecord): Promise<void> {
    const dir = this.volumeDir(record.shape.volume);
    await mkdir(dir, { recursive: true });
    await writeDurably(dir, RECORD_FILE, JSON.stringify(record, null, 2));
  }

  async load(volume: string): Promise<VolumeRecord | undefined> {
    const path = join(this.volumeDir(volume), RECORD_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new IntentError('Io', `${path}: ${(error as Error).message}`, { cause: error });
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new IntentError('Corrupt', `${path}: not JSON`, { cause: error, hint: HINT });
    }
    return parseVolumeRecord(raw, path);
  }

  /** Every volume this agent holds, for start-up convergence. */
  async loadAll(): Promise<VolumeRecord[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dataDir, 'volumes'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const records: VolumeRecord[] = [];
    for (const name of names) {
      const record = await this.load(name.replaceAll('__', '/'));
      if (record !== undefined) records.push(record);
    }
    return records;
  }

  /**
   * A released volume whose data is kept (reclaimPolicy Retain): its record is set aside, so a
   * restarted agent does not reopen it and take up a role for a volume that no longer exists.
   */
  async retire(volume: string): Promise<void> {
    const dir = this.volumeDir(volume);
    await rename(join(dir, RECORD_FILE), join(dir, RETIRED_FILE)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /** A counter bumped and persisted at every open: the replica's incarnation. */
  async nextIncarnation(volume: string): Promise<number> {
    const dir = this.volumeDir(volume);
    await mkdir(dir, { recursive: true });
    let previous = 0;
    try {
      previous = Number.parseInt(await readFile(join(dir, 'incarnation'), 'utf8'), 10) || 0;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const next = previous + 1;
    await writeDurably(dir, 'incarnation', String(next));
    return next;
  }
}
