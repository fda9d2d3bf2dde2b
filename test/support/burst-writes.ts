// test/support/burst-writer.py run from inside a network namespace (the side of a partition
// the test wants to write from), with each write's answer parsed.
import { join } from 'node:path';
import { repoRoot } from './control-plane.js';
import { runClient } from './nbd-clients.js';

export interface BurstAnswer {
  readonly connect?: 'ok' | 'failed';
  readonly offset?: number;
  readonly result?: 'acknowledged' | 'refused' | 'error' | 'no answer within 5 s';
  readonly error?: string;
}

export interface BurstOutcome {
  readonly answers: readonly BurstAnswer[];
  /** The client's exit and its lines, for the test's output. */
  readonly summary: string;
}

/** Writes a block of `marker` at each offset through `uri`, all at once, from inside `netns`. */
export async function burstWrites(netns: string, uri: string, marker: string, offsets: readonly number[]): Promise<BurstOutcome> {
  const run = await runClient('ip', [
    'netns', 'exec', netns, '/usr/bin/python3', join(repoRoot, 'test/support/burst-writer.py'), uri, marker, ...offsets.map(String),
  ], { timeoutMs: 30_000 });
  const lines = run.stdout.trim().split('\n').filter((line) => line !== '');
  return {
    answers: lines.map((line) => JSON.parse(line) as BurstAnswer),
    summary: `(exit ${run.code ?? run.signal}): ${lines.join('; ')} ${run.stderr.trim()}`,
  };
}
