// What the operator last told this agent about a volume (role, epoch, peers, modes), persisted
// before the agent answers Configure. A restarted agent reads it and converges to that role by
// itself; it never needs the operator to resend what it already acknowledged. Written with
// write-to-temp, fsync, rename, fsync-dir so a crash leaves either the old or the new intent.
import { open, readFile, rename, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BunkerError } from '@bunker/proto/bunker-error';

export type IntentRole = 'primary' | 'bunker' | 'secondary' | 'none';

export interface PeerIntent {
  readonly node: string;
  readonly address: string;
}

export interface VolumeIntent {
  readonly volume: string;
  readonly epoch: number;
  readonly role: IntentRole;
  readonly sizeBytes: number;
  readonly logBytes: number;
  readonly recovery: 'sync' | 'none';
  readonly secondaryMode: 'async' | 'sync';
  readonly fillPolicy: 'trackChanges' | 'block' | 'fail';
  readonly changeMapRegionBytes: number;
  readonly bunker?: PeerIntent;
  readonly secondary?: PeerIntent;
}

const INTENT_FILE = 'intent.json';

export class IntentError extends BunkerError<'Corrupt' | 'Io'> {}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parsePeer(value: unknown): PeerIntent | undefined {
  if (!isRecord(value)) return undefined;
  const { node, address } = value;
  return typeof node === 'string' && typeof address === 'string' ? { node, address } : undefined;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string, path: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new IntentError('Corrupt', `${path}: ${field} is ${JSON.stringify(value)}, expected one of ${allowed.join(', ')}`);
  return found;
}

function count(value: unknown, field: string, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new IntentError('Corrupt', `${path}: ${field} is not a non-negative integer`);
  return value;
}

export function parseIntent(raw: unknown, path: string): VolumeIntent {
  if (!isRecord(raw) || typeof raw['volume'] !== 'string') throw new IntentError('Corrupt', `${path}: not a volume intent`, { hint: 'remove the file; the operator will reconfigure the volume' });
  const bunker = parsePeer(raw['bunker']);
  const secondary = parsePeer(raw['secondary']);
  return {
    volume: raw['volume'],
    epoch: count(raw['epoch'], 'epoch', path),
    role: oneOf(raw['role'], ['primary', 'bunker', 'secondary', 'none'] as const, 'role', path),
    sizeBytes: count(raw['sizeBytes'], 'sizeBytes', path),
    logBytes: count(raw['logBytes'], 'logBytes', path),
    recovery: oneOf(raw['recovery'], ['sync', 'none'] as const, 'recovery', path),
    secondaryMode: oneOf(raw['secondaryMode'], ['async', 'sync'] as const, 'secondaryMode', path),
    fillPolicy: oneOf(raw['fillPolicy'], ['trackChanges', 'block', 'fail'] as const, 'fillPolicy', path),
    changeMapRegionBytes: count(raw['changeMapRegionBytes'], 'changeMapRegionBytes', path),
    ...(bunker === undefined ? {} : { bunker }),
    ...(secondary === undefined ? {} : { secondary }),
  };
}

export class IntentStore {
  constructor(private readonly dataDir: string) {}

  volumeDir(volume: string): string {
    // Volume ids are namespace/name; the slash becomes a separator that cannot occur in either.
    return join(this.dataDir, 'volumes', volume.replaceAll('/', '__'));
  }

  async save(intent: VolumeIntent): Promise<void> {
    const dir = this.volumeDir(intent.volume);
    await mkdir(dir, { recursive: true });
    const target = join(dir, INTENT_FILE);
    const temp = `${target}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(JSON.stringify(intent, null, 2));
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

  async load(volume: string): Promise<VolumeIntent | undefined> {
    const path = join(this.volumeDir(volume), INTENT_FILE);
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
      throw new IntentError('Corrupt', `${path}: not JSON`, { cause: error, hint: 'remove the file; the operator will reconfigure the volume' });
    }
    return parseIntent(raw, path);
  }

  /** Every volume this agent has an intent for, for start-up convergence. */
  async loadAll(): Promise<VolumeIntent[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dataDir, 'volumes'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const intents: VolumeIntent[] = [];
    for (const name of names) {
      const intent = await this.load(name.replaceAll('__', '/'));
      if (intent !== undefined) intents.push(intent);
    }
    return intents;
  }
}
