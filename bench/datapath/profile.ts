// Summarises a V8 CPU profile (`node --cpu-prof`): self time per function and per module,
// as shares of the samples in which the process was busy (idle samples left out).
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface ProfileLine {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly wallSeconds: number;
  readonly busySeconds: number;
  readonly top: readonly ProfileLine[];
  readonly modules: readonly ProfileLine[];
}

function isProfile(value: unknown): value is CpuProfile {
  return typeof value === 'object' && value !== null && 'nodes' in value && Array.isArray(value.nodes)
    && 'samples' in value && Array.isArray(value.samples) && 'timeDeltas' in value && Array.isArray(value.timeDeltas);
}

/** Where a function lives, short: node:internal/..., a package under node_modules, or a repo path. */
function placeOf(url: string, repoRoot: string): string {
  if (url === '') return '';
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + '/node_modules/'.length);
  return path.startsWith('/') ? relative(repoRoot, path) : path;
}

/** Module buckets: a package, node internals, or an agent source folder. */
function moduleOf(place: string, name: string): string {
  if (place === '') return name.startsWith('(') ? name : '(native)';
  if (place.startsWith('node:')) return `node:${place.split('/')[1] ?? place}`;
  const parts = place.split('/');
  if (parts[0]?.startsWith('@') === true) return `${parts[0]}/${parts[1] ?? ''}`;
  if (parts[0] === 'agent' && parts[1] === 'dist') return `agent/${parts[2] ?? ''}`;
  return parts[0] ?? place;
}

export async function summariseProfile(path: string, repoRoot: string, topCount = 15): Promise<ProfileSummary> {
  const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
  if (!isProfile(parsed)) throw new Error(`${path} is not a V8 CPU profile`);
  const byId = new Map(parsed.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute the time up to the next sample to sample i.
  for (let i = 0; i < parsed.samples.length; i += 1) {
    const id = parsed.samples[i] ?? 0;
    const delta = parsed.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  }
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const modules = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const name = node.callFrame.functionName === '' ? '(anonymous)' : node.callFrame.functionName;
    if (name === '(idle)') continue;
    busyUs += us;
    const place = placeOf(node.callFrame.url, repoRoot);
    const where = place === '' ? '' : `${place}:${node.callFrame.lineNumber + 1}`;
    const key = `${name}@${where}`;
    const entry = functions.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const module = moduleOf(place, name);
    modules.set(module, (modules.get(module) ?? 0) + us);
  }
  const share = (us: number): number => (busyUs === 0 ? 0 : us / busyUs);
  return {
    wallSeconds: (parsed.endTime - parsed.startTime) / 1e6,
    busySeconds: busyUs / 1e6,
    top: [...functions.values()].sort((a, b) => b.us - a.us).slice(0, topCount)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: share(f.us) })),
    modules: [...modules.entries()].sort((a, b) => b[1] - a[1]).slice(0, topCount)
      .map(([name, us]) => ({ name, where: '', selfMs: us / 1000, share: share(us) })),
  };
}
