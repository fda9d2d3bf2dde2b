// Takeover faults under the real operator (issue 8): the operator killed in the middle of a
// takeover, and a refused takeover.
// 1. The target secondary is paused (SIGSTOP) during writes, so the bunker holds a backlog; the
//    primary is killed and its Node marked NotReady; the secondary is resumed and paused again
//    as soon as status.takeover appears (a secondary paused from the start would be unreachable
//    and decideTakeover would only wait), so the takeover cannot finish. The operator is killed
//    with SIGKILL at step fence or drain, a new operator (new identity) is started, the target
//    resumed, and the new operator must finish the takeover from status alone with no
//    acknowledged write lost.
// 2. The secondary lags (paused during writes), then the primary and the bunker are both lost:
//    the operator must refuse (status.lastRefusal, a TakeoverRefused Event) and promote nothing.
// Nodes are tf-a..tf-f, namespace operator-takeover-faults: no other test's objects are touched.
import { join } from 'node:path';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import type { AgentProcess } from '../support/agent-process.js';
import { watchKubectl, type KubectlWatch } from '../support/kubectl.js';
import { kubectlOk, markNodeNotReady } from '../support/operator-process.js';
import { acknowledged, OperatorTestbed } from '../support/operator-testbed.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const namespace = 'operator-takeover-faults';

let testbed: OperatorTestbed;
const watchers: KubectlWatch[] = [];

const ok = (args: readonly string[], input?: string): Promise<string> => kubectlOk(['-n', namespace, ...args], input);
const volume = (name: string): Promise<ReplicatedVolume> => testbed.volume(name);
const agent = (node: string): AgentProcess => testbed.agent(node);

async function createVolume(name: string, primary: string, bunker: string, secondary: string): Promise<void> {
  await testbed.createVolume(name, {
    size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 },
    placement: { primary: { node: primary }, bunker: { node: bunker }, secondary: { node: secondary } },
  });
}

function startWriter(node: string, name: string, ackLog: string, seed: number, seconds: number): Promise<unknown> {
  return testbed.writer(node, name, ackLog, { blocks: 1024, seconds, seed });
}

/**
 * Watches the volume and pauses `target` (SIGSTOP) at the first event whose status.takeover
 * has a step: synchronously in the event handler, so that the operator's next reconcile finds
 * the target paused before it can drain and promote it.
 */
function pauseTargetWhenTakeoverStarts(name: string, target: AgentProcess): { readonly paused: Promise<string>; stop(): void } {
  let resolvePaused: (step: string) => void = () => undefined;
  let done = false;
  const paused = new Promise<string>((resolve) => { resolvePaused = resolve; });
  const watch = watchKubectl(['-n', namespace, 'get', 'replicatedvolume', name, '-o', 'jsonpath={.status.takeover.step}{"\\n"}'], {
    onLine: (line) => {
      const step = line.trim();
      if (done || step === '') return;
      done = true;
      target.process.child.kill('SIGSTOP');
      resolvePaused(step);
    },
  });
  watchers.push(watch);
  const ended = watch.exited.then(() => {
    if (!done) throw new Error(`the watch of ${name} ended before a takeover started`);
    return '';
  });
  return { paused: Promise.race([paused, ended]), stop: () => void watch.stop() };
}

beforeAll(async () => {
  testbed = await OperatorTestbed.start({
    name: 'takeover-faults-1', namespace, operatorNamespace: 'bunker-takeover-faults-system', sites: ['tf-a', 'tf-b', 'tf-c', 'tf-d', 'tf-e', 'tf-f'], subnet: 63,
  });
}, 360_000);

afterAll(async () => {
  for (const watcher of watchers) await watcher.stop();
  await testbed?.stop();
}, 90_000);

describe('takeover faults under the real operator', () => {
  it('a new operator finishes a takeover whose operator was killed at fence or drain, and loses no acknowledged write', async () => {
    const name = 'faults-resume';
    await createVolume(name, 'tf-a', 'tf-b', 'tf-c');

    const ackLog = join(testbed.baseDir, 'resume.acks');
    const writer = startWriter('tf-a', name, ackLog, 11, 15).catch(() => undefined);
    await waitFor('writes to be acknowledged', async () => ((await acknowledged(ackLog)) > 200 ? true : undefined), { timeoutMs: 20_000 });
    // The secondary stops acknowledging shipped entries: the bunker holds a backlog it lacks.
    agent('tf-c').process.child.kill('SIGSTOP');
    const before = await acknowledged(ackLog);
    await waitFor('writes acknowledged while the secondary is paused', async () => ((await acknowledged(ackLog)) > before + 200 ? true : undefined), { timeoutMs: 20_000 });

    const killedAt = Date.now();
    await testbed.killAgent('tf-a');
    await markNodeNotReady('tf-a');
    await writer;

    // Resume the target so the takeover can start, and pause it again the moment it has.
    const watch = pauseTargetWhenTakeoverStarts(name, agent('tf-c'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    agent('tf-c').process.child.kill('SIGCONT');
    let seenStep: string;
    try {
      seenStep = await Promise.race([
        watch.paused,
        new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no takeover started within 30 s')), 30_000)),
      ]);
    } finally {
      watch.stop();
    }
    const midway = await volume(name);
    process.stdout.write(`takeover paused at watched step ${seenStep}; status.takeover ${JSON.stringify(midway.status?.takeover)}\n`);
    expect(['fence', 'drain']).toContain(midway.status?.takeover?.step);
    expect(midway.status?.epoch).toBe(2);
    expect(midway.status?.lastTakeover).toBeUndefined();

    await testbed.killOperator();
    const restartedAt = Date.now();
    const second = await testbed.startOperator('takeover-faults-2');
    agent('tf-c').process.child.kill('SIGCONT');

    const target = agent('tf-c');
    const done = await waitFor('the new operator to record the takeover', async () => {
      const rv = await volume(name);
      return rv.status?.lastTakeover !== undefined && rv.status.endpoint?.address === `${target.host}:${target.nbdPort}` ? rv : undefined;
    }, { timeoutMs: 90_000, intervalMs: 100 });
    const servingMs = Date.now() - killedAt;
    const resumedMs = Date.now() - restartedAt;
    expect(second.alive()).toBe(true);

    const last = done.status?.lastTakeover;
    expect(done.status).toMatchObject({ currentPrimary: 'tf-c', epoch: 2 });
    expect(done.status?.takeover).toBeUndefined();
    expect(last).toMatchObject({ fromNode: 'tf-a', toNode: 'tf-c', fromEpoch: 1, toEpoch: 2, acknowledgedWritesLost: 0 });
    const served = (await target.status()).volumes.find((v) => v.volume === `${namespace}/${name}`);
    expect(served?.nbdAddress ?? '').not.toBe('');

    const dataPath = join(target.dataDir, 'volumes', `${namespace}__${name}`, 'data.img');
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath, offset, length));
    process.stdout.write(`operator killed mid-takeover (at ${midway.status?.takeover?.step ?? '?'}): ${result.blocksChecked} acknowledged blocks, ` +
      `${result.lost.length} lost; lastTakeover ${JSON.stringify(last)}; primary kill to new primary serving through the EndpointSlice ${servingMs} ms ` +
      `(includes the test's pause of the target and the operator restart); new operator start to serving ${resumedMs} ms\n`);
    expect(result.blocksChecked).toBeGreaterThan(100);
    expect(result.lost).toEqual([]);
  }, 240_000);

  it('refuses to promote a lagging secondary when the primary and the bunker are both lost', async () => {
    if (!testbed.operatorRunning()) await testbed.startOperator('takeover-faults-3');
    const name = 'faults-refuse';
    await createVolume(name, 'tf-d', 'tf-e', 'tf-f');

    const ackLog = join(testbed.baseDir, 'refuse.acks');
    const writer = startWriter('tf-d', name, ackLog, 13, 10).catch(() => undefined);
    await waitFor('writes to be acknowledged', async () => ((await acknowledged(ackLog)) > 200 ? true : undefined), { timeoutMs: 20_000 });
    agent('tf-f').process.child.kill('SIGSTOP');
    const before = await acknowledged(ackLog);
    await waitFor('writes acknowledged while the secondary lags', async () => ((await acknowledged(ackLog)) > before + 200 ? true : undefined), { timeoutMs: 20_000 });

    const lostAt = Date.now();
    await Promise.all([testbed.killAgent('tf-d'), testbed.killAgent('tf-e')]);
    await markNodeNotReady('tf-d');
    await markNodeNotReady('tf-e');
    await writer;
    agent('tf-f').process.child.kill('SIGCONT');

    const refused = await waitFor('the takeover to be refused', async () => {
      const rv = await volume(name);
      return rv.status?.lastRefusal !== undefined ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const refusedMs = Date.now() - lostAt;
    const refusal = refused.status?.lastRefusal;
    expect(refusal?.rule).toBeTruthy();
    expect(refusal?.reason).toBeTruthy();
    expect(refusal?.message).toBeTruthy();

    const event = await waitFor('a TakeoverRefused Event', async () => {
      const list: unknown = JSON.parse(await ok(['get', 'events', '--field-selector', `reason=TakeoverRefused,involvedObject.name=${name}`, '-o', 'json']));
      const items = typeof list === 'object' && list !== null && 'items' in list && Array.isArray(list.items) ? (list.items as unknown[]) : [];
      return items.length > 0 ? items[0] : undefined;
    }, { timeoutMs: 20_000, intervalMs: 250 });
    expect(event).toMatchObject({ type: 'Warning', reason: 'TakeoverRefused' });

    // Give a wrong promotion time to happen, then check that none did.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const after = await volume(name);
    expect(after.status?.lastTakeover).toBeUndefined();
    expect(after.status?.takeover).toBeUndefined();
    expect(after.status?.epoch).toBe(1);
    expect(after.status?.currentPrimary).toBe('tf-d');
    const held = (await agent('tf-f').status()).volumes.find((v) => v.volume === `${namespace}/${name}`);
    expect(held?.nbdAddress ?? '').toBe('');
    process.stdout.write(`refusal (primary and bunker lost, secondary lagging): loss to lastRefusal ${refusedMs} ms; ` +
      `lastRefusal ${JSON.stringify(refusal)}; secondary ${JSON.stringify(held === undefined ? null : { role: held.role, epoch: held.epoch, nbdAddress: held.nbdAddress })}\n`);
  }, 180_000);
});
