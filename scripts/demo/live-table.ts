// The live view of the volume while the writer runs, like `kubectl get rv -w`: one row a
// second (phase, primary and epoch from the ReplicatedVolume; acknowledged writes from the
// writer's acknowledgement log; bunker and secondary lag from the primary agent's own Status,
// which is fresher than status.lag, refreshed by the operator every 10 s) and, on a terminal,
// a throughput line refreshed in place under the rows.
import { open } from 'node:fs/promises';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import type { AgentProcess } from '../../test/support/agent-process.js';
import { isTty, write } from './ui.js';

/** Counts the lines of an append-only file, reading only what was added since the last look. */
export class AckCounter {
  private offset = 0;
  count = 0;

  constructor(private readonly path: string) {}

  async refresh(): Promise<number> {
    const handle = await open(this.path, 'r').catch(() => undefined);
    if (handle === undefined) return this.count;
    try {
      const buffer = Buffer.alloc(1024 * 1024);
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
        if (bytesRead === 0) break;
        // Count only whole lines: a partial last line is counted at the next look.
        const last = buffer.lastIndexOf(10, bytesRead - 1);
        if (last < 0) break;
        for (let i = 0; i <= last; i += 1) if (buffer[i] === 10) this.count += 1;
        this.offset += last + 1;
      }
    } finally {
      await handle.close();
    }
    return this.count;
  }
}

export interface TableSources {
  readonly volume: () => Promise<ReplicatedVolume>;
  readonly agent: (node: string) => AgentProcess | undefined;
  readonly volumeKey: string;
  readonly acks: AckCounter;
}

const COLUMNS = ['TIME', 'PHASE', 'PRIMARY', 'EPOCH', 'ACKED', 'WRITES/S', 'BUNKER LAG', 'SECONDARY LAG'] as const;
const WIDTHS = [7, 10, 8, 6, 8, 9, 12, 22];

function row(cells: readonly string[]): string {
  return cells.map((c, i) => c.padEnd(WIDTHS[i] ?? 10)).join(' ').trimEnd();
}

export interface TableResult {
  readonly acknowledged: number;
  readonly writesPerSecond: number;
  readonly maxSecondaryLagEntries: number;
}

/** Shows the table for `seconds`; returns the figures of the whole run. */
export async function liveTable(sources: TableSources, seconds: number): Promise<TableResult> {
  const tty = isTty();
  const started = Date.now();
  const startAcks = await sources.acks.refresh();
  write(`  ${row([...COLUMNS])}`);
  let lastAcks = startAcks;
  let lastAt = started;
  let maxSecondaryLag = 0;
  let rate = 0;
  let nextRowAt = started + 1_000;
  let inPlace = false;
  const average = (acks: number): number => {
    const total = (Date.now() - started) / 1000;
    return total > 0 ? (acks - startAcks) / total : 0;
  };
  const mibps = (writes: number): string => ((writes * 4096) / (1024 * 1024)).toFixed(2);
  // One short line, refreshed in place on a terminal.
  const throughput = (acks: number): string =>
    `  throughput: ${lastAt === started ? '' : `${rate.toFixed(0)} writes/s now, `}${average(acks).toFixed(0)} writes/s = ${mibps(average(acks))} MiB/s on average`;
  while (Date.now() - started < seconds * 1000) {
    await new Promise((r) => setTimeout(r, tty ? 250 : 1_000));
    const acks = await sources.acks.refresh();
    const now = Date.now();
    if (now >= nextRowAt || !tty) {
      rate = ((acks - lastAcks) * 1000) / Math.max(1, now - lastAt);
      lastAcks = acks;
      lastAt = now;
      nextRowAt += 1_000;
      const rv = await sources.volume().catch(() => undefined);
      const primary = rv?.status?.currentPrimary ?? '';
      const replica = await sources.agent(primary)?.status().then((s) => s.volumes.find((v) => v.volume === sources.volumeKey)).catch(() => undefined);
      const bunkerLag = replica === undefined ? '?' : `${Math.max(0, replica.durableSeq - replica.bunkerDurableSeq)} entries`;
      const secondaryEntries = replica === undefined ? undefined : Math.max(0, replica.durableSeq - replica.secondaryDurableSeq);
      if (secondaryEntries !== undefined) maxSecondaryLag = Math.max(maxSecondaryLag, secondaryEntries);
      const secondaryLag = replica === undefined || secondaryEntries === undefined ? '?' : `${secondaryEntries} entries / ${replica.secondaryLagSeconds.toFixed(1)} s`;
      const line = `  ${row([
        `+${((now - started) / 1000).toFixed(1)}s`, rv?.status?.phase ?? '?', primary, String(rv?.status?.epoch ?? ''), String(acks),
        rate.toFixed(0), bunkerLag, secondaryLag,
      ])}`;
      if (tty) {
        process.stdout.write(`${inPlace ? '\r\u001b[2K' : ''}${line}\n${throughput(acks)}`);
        inPlace = true;
      } else {
        write(line);
      }
    } else if (tty) {
      process.stdout.write(`${inPlace ? '\r\u001b[2K' : ''}${throughput(acks)}`);
      inPlace = true;
    }
  }
  if (inPlace) process.stdout.write('\r\u001b[2K');
  const acks = await sources.acks.refresh();
  rate = average(acks);
  write(`  throughput: ${rate.toFixed(0)} writes/s = ${mibps(rate)} MiB/s on average over ${((Date.now() - started) / 1000).toFixed(1)} s`);
  write('    (4 KiB writes, one at a time, each acknowledged once durable on the primary and the bunker)');
  return { acknowledged: acks, writesPerSecond: rate, maxSecondaryLagEntries: maxSecondaryLag };
}

