// Test-only fault injection on the real files (hardening tests, the soak test): an agent
// started with --fault-file PATH reads that JSON file every FAULT_POLL_MS and makes the I/O
// of its data volumes and its logs fail or slow down as it says, e.g.
//   { "data": { "errno": "EIO", "ops": ["write"] }, "log": { "delayMs": 200, "delayOps": ["sync"] } }
// `data` is every data volume (data.img); `log` every change log, staging log and change map.
// Without the flag nothing is installed and each hook is one property read.
import { readFile } from 'node:fs/promises';

export type FaultTarget = 'data' | 'log';
export type FaultOp = 'read' | 'write' | 'sync';
const OPS: readonly FaultOp[] = ['read', 'write', 'sync'];

export interface FaultRule {
  /** Fail these operations with this errno (all operations when `ops` is absent). */
  readonly errno?: 'EIO' | 'ENOSPC';
  readonly ops?: readonly FaultOp[];
  /** Delay these operations (fdatasync when `delayOps` is absent) by this much. */
  readonly delayMs?: number;
  readonly delayOps?: readonly FaultOp[];
}

export type FaultPlan = Partial<Record<FaultTarget, FaultRule>>;

export const FAULT_POLL_MS = 100;

class InjectedFaults {
  private plan: FaultPlan = {};
  private timer: NodeJS.Timeout | undefined;

  get active(): boolean {
    return this.timer !== undefined;
  }

  /** Called by the storage layers before each operation; throws or waits as the plan says. */
  async before(target: FaultTarget, op: FaultOp): Promise<void> {
    if (this.timer === undefined) return;
    const rule = this.plan[target];
    if (rule === undefined) return;
    if (rule.delayMs !== undefined && rule.delayMs > 0 && (rule.delayOps ?? ['sync']).includes(op)) {
      await new Promise((resolve) => setTimeout(resolve, rule.delayMs));
    }
    if (rule.errno !== undefined && (rule.ops ?? OPS).includes(op)) {
      const error: NodeJS.ErrnoException = new Error(`${rule.errno}: injected ${op} fault on the ${target} files`);
      error.code = rule.errno;
      error.errno = rule.errno === 'EIO' ? -5 : -28;
      error.syscall = op === 'sync' ? 'fdatasync' : op === 'write' ? 'pwrite' : 'pread';
      throw error;
    }
  }

  /** Starts following `path` (a missing or unreadable file means no faults). */
  follow(path: string, onChange: (plan: FaultPlan) => void, onInvalid: (error: unknown) => void): void {
    let last = '';
    const poll = async (): Promise<void> => {
      const text = await readFile(path, 'utf8').catch(() => '{}');
      if (text === last) return;
      last = text;
      try {
        this.plan = parseFaultPlan(text);
        onChange(this.plan);
      } catch (error) {
        onInvalid(error);
      }
    };
    this.timer = setInterval(() => void poll(), FAULT_POLL_MS);
    void poll();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.plan = {};
  }
}

export function parseFaultPlan(text: string): FaultPlan {
  const raw: unknown = JSON.parse(text.trim() === '' ? '{}' : text);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('a fault plan is a JSON object');
  const plan: Partial<Record<FaultTarget, FaultRule>> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key !== 'data' && key !== 'log') throw new Error(`unknown fault target "${key}" (data, log)`);
    if (typeof value !== 'object' || value === null) throw new Error(`${key}: a rule is an object`);
    const rule = value as Record<string, unknown>;
    const ops = (name: string): FaultOp[] | undefined => {
      const list = rule[name];
      if (list === undefined) return undefined;
      if (!Array.isArray(list) || !list.every((op): op is FaultOp => OPS.includes(op as FaultOp))) throw new Error(`${key}.${name}: a list of read, write, sync`);
      return list;
    };
    const errno = rule['errno'];
    if (errno !== undefined && errno !== 'EIO' && errno !== 'ENOSPC') throw new Error(`${key}.errno: EIO or ENOSPC`);
    const delayMs = rule['delayMs'];
    if (delayMs !== undefined && (typeof delayMs !== 'number' || !(delayMs >= 0) || delayMs > 60_000)) throw new Error(`${key}.delayMs: 0 to 60000`);
    const opsList = ops('ops');
    const delayOps = ops('delayOps');
    plan[key] = {
      ...(errno === undefined ? {} : { errno }),
      ...(opsList === undefined ? {} : { ops: opsList }),
      ...(delayMs === undefined ? {} : { delayMs }),
      ...(delayOps === undefined ? {} : { delayOps }),
    };
  }
  return plan;
}

/** The process's one fault injector (inactive unless the agent was started with --fault-file). */
export const injectedFaults = new InjectedFaults();
