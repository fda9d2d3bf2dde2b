// Rendering charts/bunker in tests: the helm that scripts/control-plane/build.sh builds (CI builds
// it before the tests; on a fresh machine the first call builds it, which takes minutes; no helm
// is a failure, never a skip), `helm template` parsed into plain objects, and small readers for
// those objects.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './control-plane.js';

export const run = promisify(execFile);
export const chartDir = join(repoRoot, 'charts/bunker');

export type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a path of keys and list indexes, or undefined. */
export function dig(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof key === 'number') current = Array.isArray(current) ? current[key] : undefined;
    else current = isRecord(current) ? current[key] : undefined;
  }
  return current;
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export async function helmBinary(): Promise<string> {
  const fromEnv = process.env['BUNKER_CONTROL_PLANE_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return join(fromEnv, 'helm');
  const { stdout } = await run('bash', [join(repoRoot, 'scripts/control-plane/build.sh')], { timeout: 60 * 60_000, maxBuffer: 64 * 1024 * 1024 });
  const bin = stdout.trim().split('\n').at(-1) ?? '';
  if (bin === '') throw new Error('scripts/control-plane/build.sh printed no bin directory, so there is no helm to render the chart with');
  return join(bin, 'helm');
}

/** `helm template` of the chart as release "bunker" in bunker-system, with these --set values. */
export async function renderChart(helm: string, sets: readonly string[], options: { includeCrds?: boolean } = {}): Promise<Json[]> {
  const args = ['template', 'bunker', chartDir, '--namespace', 'bunker-system', '--kube-version', '1.34.0', ...(options.includeCrds === true ? ['--include-crds'] : [])];
  for (const set of sets) args.push('--set', set);
  const { stdout } = await run(helm, args, { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((document) => document.toJS({ maxAliasCount: -1 })).filter(isRecord);
}
