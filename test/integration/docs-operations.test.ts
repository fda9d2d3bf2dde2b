// docs/operations.md, run: every shell block whose fence is ```sh runnable is run in order
// against the test control plane, the way a reader would paste it (bash -euo pipefail, the
// repository root as working directory, KUBECONFIG set, the control plane's helm first on
// PATH). The control plane has no kubelet and no operator runs, so the blocks can only be
// those that need nothing but an apiserver (install, apply, get, patch, uninstall); a block
// that breaks fails this test with the block and its output. The page's namespace is
// bunker-docs; its last block cleans up, and afterAll does it again in case a block failed.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { repoRoot } from '../support/control-plane.js';
import { kubectl, runCommand, testKubeconfigPath } from '../support/kubectl.js';

const doc = 'docs/operations.md';
const namespace = 'bunker-docs';
const release = 'bunker';
const blockTimeoutMs = 180_000;

interface Block {
  readonly index: number;
  readonly line: number;
  readonly script: string;
}

/** The ```sh runnable blocks of a Markdown text, in order. */
function runnableBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    if (!/^```sh runnable\s*$/.test(lines[i] ?? '')) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end += 1;
    if (end >= lines.length) throw new Error(`${doc}:${start}: runnable block never closed`);
    blocks.push({ index: blocks.length + 1, line: start, script: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

function helmBinDir(): string {
  const bin = process.env['BUNKER_CONTROL_PLANE_BIN'];
  if (bin === undefined || bin === '') throw new Error('BUNKER_CONTROL_PLANE_BIN is not set: the harness must say where helm is');
  return bin;
}

function blockEnv(): NodeJS.ProcessEnv {
  return { ...process.env, KUBECONFIG: testKubeconfigPath(), PATH: [helmBinDir(), process.env['PATH'] ?? ''].join(delimiter) };
}

interface BashResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
  readonly timedOut: boolean;
}

/** One block in its own bash, output (stdout and stderr interleaved) kept for the failure message. */
function runBlock(script: string): Promise<BashResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: repoRoot, env: blockEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole process group: bash and whatever it started.
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, blockTimeoutMs);
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, timedOut });
    });
  });
}

const blocks = runnableBlocks(readFileSync(join(repoRoot, doc), 'utf8'));

describe(`the runnable shell blocks of ${doc}`, () => {
  afterAll(async () => {
    // A failed block may leave the release or the namespace behind; the last block normally
    // removed both already, and then these fail harmlessly.
    await runCommand(join(helmBinDir(), 'helm'), ['uninstall', release, '--namespace', namespace, '--kubeconfig', testKubeconfigPath()], { timeoutMs: 120_000 });
    await kubectl(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']);
  }, 180_000);

  it('has at least five, with a helm install, a ReplicatedVolume applied, a request patched and a clean-up last', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    // Continuation lines joined, so a command reads as one line.
    const all = blocks.map((block) => block.script.replace(/\\\n\s*/g, ' ')).join('\n');
    expect(all).toMatch(/^helm install /m);
    expect(all).toMatch(/^kubectl apply .*examples\/replicated-volume\.yaml/m);
    expect(all).toMatch(/^kubectl patch rv .*\/spec\/(takeover|migrate)/m);
    const last = blocks[blocks.length - 1]?.script ?? '';
    expect(last).toMatch(/helm uninstall/);
    expect(last).toMatch(new RegExp(`kubectl delete namespace ${namespace}`));
    for (const block of blocks) expect(block.script).toContain(namespace);
  });

  it.each(blocks.map((block) => [block.index, block.line, block] as const))('block %i (line %i) exits 0', async (_index, _line, block) => {
    const result = await runBlock(block.script);
    if (result.code !== 0) {
      const why = result.timedOut ? `timed out after ${blockTimeoutMs} ms` : `exit ${result.code ?? `signal ${result.signal ?? '?'}`}`;
      throw new Error(`${doc}:${block.line}: runnable block ${block.index} failed (${why})\n--- block ---\n${block.script}\n--- output ---\n${result.output}`);
    }
  }, blockTimeoutMs + 10_000);
});
