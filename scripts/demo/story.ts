// Steps 3 to 7 of the demo: the example volume brought to Ready, a writer under a live table,
// the primary site killed and the takeover watched as it happens, every acknowledged write
// checked on the new primary, the old site brought back and resynchronized (against the true
// difference of the two data files), and the primary migrated back.
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { ReplicatedVolume, ReplicatedVolumeStatus } from '../../operator/src/api/index.js';
import { repoRoot } from '../../test/support/control-plane.js';
import { kubectlOk } from '../../test/support/operator-process.js';
import { volumeReader } from '../../test/support/volume-reader.js';
import { differingBytes } from '../../test/support/data-diff.js';
import { waitFor } from '../../test/support/wait-for.js';
import { readFileRange, verifyAcknowledged, type VerifyResult } from '../../test/support/write-verifier.js';
import { SITES, type DemoCluster } from './cluster.js';
import { AckCounter, liveTable } from './live-table.js';
import type { StateFile } from './state.js';
import { say, sayAt, write } from './ui.js';
import { startWriter, type Writer } from './writer.js';

const NAME = 'demo';
const MiB = 1024 * 1024;

export interface StoryOptions {
  readonly namespace: string;
  readonly tableSeconds: number;
  readonly state: StateFile;
}

export interface Summary {
  volume: string;
  farLink: string;
  network: string;
  ready?: { seconds: number };
  writes?: { acknowledged: number; writesPerSecond: number; maxSecondaryLagEntries: number };
  takeover?: { killedSite: string; detectedAfterSeconds?: number; recordedAfterSeconds: number; record: ReplicatedVolumeStatus['lastTakeover'] };
  verifyAfterTakeover?: { node: string; acknowledged: number; blocksChecked: number; lost: number };
  resync?: { trueDifferenceBytes: number; bytesCopied: number; bytesDone: number; bytesTotal: number; scope: string; sourceNode: string; targetNode: string; seconds: number };
  migration?: { requestId: string; record: ReplicatedVolumeStatus['lastMigration']; requestToEndpointSeconds: number };
  verifyAfterMigration?: { node: string; acknowledged: number; blocksChecked: number; lost: number };
  acknowledgedWritesLost?: number;
  status?: ReplicatedVolumeStatus;
}

export class Story {
  readonly summary: Summary;
  private readonly volumeOf: (namespace: string, name: string) => Promise<ReplicatedVolume>;
  private readonly core: CoreV1Api;
  private readonly kubeConfig: KubeConfig;
  private writer: Writer | undefined;
  private readonly seenEvents = new Set<string>();

  constructor(private readonly cluster: DemoCluster, private readonly options: StoryOptions) {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    this.kubeConfig = kubeConfig;
    this.volumeOf = volumeReader(kubeConfig);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.summary = { volume: `${options.namespace}/${NAME}`, farLink: cluster.farLink, network: cluster.network === undefined ? 'loopback' : 'network namespaces' };
  }

  volume(): Promise<ReplicatedVolume> {
    return this.volumeOf(this.options.namespace, NAME);
  }

  private get volumeKey(): string {
    return `${this.options.namespace}/${NAME}`;
  }

  private ok(args: readonly string[], input?: string): Promise<string> {
    return kubectlOk(['-n', this.options.namespace, ...args], input);
  }

  async stopWriter(): Promise<void> {
    await this.writer?.stop();
    this.writer = undefined;
  }

  /** Step 3. */
  async applyExample(): Promise<void> {
    const started = Date.now();
    if (this.options.namespace !== 'default') await this.ok(['create', 'namespace', this.options.namespace]).catch(() => undefined);
    say(`kubectl apply -n ${this.options.namespace} -f examples/replicated-volume.yaml`);
    say((await this.ok(['apply', '-f', join(repoRoot, 'examples/replicated-volume.yaml')])).trim());
    let phase = '';
    await waitFor('the volume to be Ready', async () => {
      const status = (await this.volume()).status;
      if (status?.phase !== undefined && status.phase !== phase) {
        phase = status.phase;
        say(`+${((Date.now() - started) / 1000).toFixed(1)}s phase ${phase}${status.epoch === undefined ? '' : `, epoch ${status.epoch}`}`);
      }
      return status?.phase === 'Ready' ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    this.summary.ready = { seconds: (Date.now() - started) / 1000 };
    for (const line of (await this.ok(['get', 'rv', '-o', 'wide'])).trimEnd().split('\n')) write(`  ${line.slice(0, 98)}`);
    const rv = await this.volume();
    say(`NBD endpoint ${rv.status?.endpoint?.address ?? '?'} (EndpointSlice ${NAME}); export name ${this.volumeKey}`);
  }

  /** Step 4. */
  async writeUnderTable(): Promise<void> {
    this.writer = await startWriter({
      dir: this.cluster.baseDir, label: 'writer-1', kubeConfig: this.kubeConfig, namespace: this.options.namespace, name: NAME, blocks: 16_384, seed: 1,
    });
    this.options.state.addProcess('writer', this.writer.child.pid ?? 0, 'verifiable-writer');
    say(`verifiable writer (test/support/verifiable-writer.py, pid ${this.writer.child.pid}) writes 4 KiB blocks over the first 64 MiB; ` +
      `every acknowledged write goes to ${this.writer.ackLog}. It connects to nbd://${this.writer.proxy.host}:${this.writer.proxy.port}/${this.volumeKey}, ` +
      `a proxy that follows the volume's EndpointSlice as kube-proxy would for its Service (now ${this.writer.proxy.current() ?? 'none'})`);
    const acks = new AckCounter(this.writer.ackLog);
    await waitFor('the first acknowledged write', async () => ((await acks.refresh()) > 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 })
      .catch((error: unknown) => { throw new Error(`${error instanceof Error ? error.message : String(error)}\nwriter said: ${this.writer?.output() ?? ''}`); });
    const result = await liveTable({ volume: () => this.volume(), agent: (node) => this.cluster.agents.get(node), volumeKey: this.volumeKey, acks }, this.options.tableSeconds);
    this.summary.writes = result;
    if (result.maxSecondaryLagEntries > 0) say(`the far secondary ran up to ${result.maxSecondaryLagEntries} entries behind (asynchronous, ${this.cluster.farLink}); the bunker is synchronous`);
  }

  /** Step 5: kill the primary site and watch the takeover. */
  async killPrimary(): Promise<void> {
    const before = await this.volume();
    const victim = before.status?.currentPrimary ?? SITES[0];
    const grace = before.spec.failover.gracePeriodSeconds;
    const acks = new AckCounter(this.writer?.ackLog ?? '');
    await this.skipEvents();
    const t0 = Date.now();
    const at = (): string => `+${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(7);
    const log = (text: string): void => sayAt(at(), text);
    await this.cluster.killAgent(victim);
    log(`kill -9 the agent of ${victim} (acknowledged writes so far: ${await acks.refresh()})`);
    if (this.cluster.network !== undefined) {
      await this.cluster.site(victim).cut();
      log(`network of ${victim} cut (its bridge port ${this.cluster.site(victim).rootLink} down)`);
    }
    await this.cluster.markNotReady(victim);
    log(`Node ${victim} Ready=Unknown (as its kubelet would stop posting); failover.gracePeriodSeconds is ${grace}`);
    let lastStep = '';
    let lastPhase = before.status?.phase ?? '';
    const conditions = new Map((before.status?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
    let detected: number | undefined;
    let endpoint = before.status?.endpoint?.address ?? '';
    let lastEventsAt = 0;
    const done = await waitFor('the takeover to finish', async () => {
      const rv = await this.volume();
      const status = rv.status;
      if (Date.now() - lastEventsAt > 500) {
        lastEventsAt = Date.now();
        for (const e of await this.newEvents()) {
          if (e.reason === 'TakeoverStarted' && detected === undefined) detected = Date.now() - t0;
          log(`Event ${e.reason}: ${e.message}`);
        }
      }
      if (status?.phase !== undefined && status.phase !== lastPhase) {
        lastPhase = status.phase;
        log(`phase ${lastPhase}`);
      }
      for (const c of status?.conditions ?? []) {
        const value = `${c.status}/${c.reason}`;
        if (conditions.get(c.type) !== value) {
          conditions.set(c.type, value);
          log(`condition ${c.type}=${c.status} ${c.reason}: ${c.message}`);
        }
      }
      const t = status?.takeover;
      if (t !== undefined && t.step !== lastStep) {
        if (detected === undefined) detected = Date.now() - t0;
        lastStep = t.step;
        const figures = [
          t.entriesLeft === undefined ? '' : `${t.entriesLeft} entries left`,
          t.entriesReplayed === undefined ? '' : `${t.entriesReplayed} entries replayed`,
          t.bytesDrained === undefined ? '' : `${t.bytesDrained} bytes drained`,
        ].filter((f) => f !== '').join(', ');
        log(`takeover step ${t.step}: ${t.reason}, ${t.fromNode} -> ${t.targetNode}, epoch ${t.fromEpoch} -> ${t.toEpoch}${figures === '' ? '' : ` (${figures})`}`);
      }
      const address = status?.endpoint?.address ?? '';
      if (address !== endpoint) {
        endpoint = address;
        log(`endpoint now ${address || 'none'}`);
      }
      const last = status?.lastTakeover;
      return last !== undefined && last.fromNode === victim && status?.takeover === undefined && address !== '' && status?.currentPrimary !== victim ? rv : undefined;
    }, { timeoutMs: 120_000, intervalMs: 100 });
    const recorded = Date.now() - t0;
    for (const e of await this.newEvents()) log(`Event ${e.reason}: ${e.message}`);
    const newPrimary = done.status?.currentPrimary ?? '';
    log(`takeover recorded: ${newPrimary} is the primary in epoch ${done.status?.epoch}`);
    const atSwitch = await acks.refresh();
    await waitFor('the writer to be acknowledged by the new primary', async () => ((await acks.refresh()) > atSwitch + 200 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 })
      .catch((error: unknown) => { throw new Error(`${error instanceof Error ? error.message : String(error)}\nwriter said: ${this.writer?.output() ?? ''}`); });
    log(`the writer reconnected to ${newPrimary} and goes on: ${acks.count} acknowledged writes`);
    this.summary.takeover = {
      killedSite: victim, recordedAfterSeconds: recorded / 1000, record: done.status?.lastTakeover,
      ...(detected === undefined ? {} : { detectedAfterSeconds: detected / 1000 }),
    };
  }

  private async newEvents(): Promise<Array<{ reason: string; message: string }>> {
    const list = await this.core.listNamespacedEvent({ namespace: this.options.namespace, fieldSelector: `involvedObject.name=${NAME}` }).catch(() => undefined);
    const fresh: Array<{ reason: string; message: string; at: number }> = [];
    for (const e of list?.items ?? []) {
      const key = `${e.metadata.name ?? ''}/${e.count ?? 1}`;
      if (this.seenEvents.has(key)) continue;
      this.seenEvents.add(key);
      const at = new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime();
      fresh.push({ reason: e.reason ?? '', message: e.message ?? '', at });
    }
    return fresh.sort((a, b) => a.at - b.at);
  }

  /** Marks the events seen so far as seen, so that a step shows only its own. */
  async skipEvents(): Promise<void> {
    await this.newEvents();
  }

  private async appliedEverything(node: string): Promise<void> {
    await waitFor(`${node} to apply every durable entry`, async () => {
      const replica = (await this.cluster.agent(node).status()).volumes.find((v) => v.volume === this.volumeKey);
      return replica !== undefined && replica.appliedSeq === replica.durableSeq ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
  }

  private async verify(ackLog: string, node: string): Promise<VerifyResult> {
    await this.appliedEverything(node);
    return verifyAcknowledged(ackLog, (offset, length) => readFileRange(this.cluster.dataPath(node, NAME), offset, length));
  }

  /** Step 6. */
  async verifyTakeover(): Promise<void> {
    const ackLog = this.writer?.ackLog ?? '';
    await this.stopWriter();
    const rv = await this.volume();
    const node = rv.status?.currentPrimary ?? '';
    const result = await this.verify(ackLog, node);
    const last = rv.status?.lastTakeover;
    say(`writer stopped; ${result.acknowledged} blocks hold an acknowledged write (the last one to each offset): ` +
      `each checked in ${node}'s data file ${this.cluster.dataPath(node, NAME)}`);
    for (const loss of result.lost.slice(0, 5)) say(`LOST at offset ${loss.offset}: acknowledged write ${loss.acknowledged}, found ${loss.found}`);
    if (last !== undefined) {
      say(`status.lastTakeover: reason ${last.reason}, ${last.fromNode} (epoch ${last.fromEpoch}) -> ${last.toNode} (epoch ${last.toEpoch})`);
      say(`  started ${last.startedAt}, finished ${last.finishedAt}: ${last.durationSeconds} s`);
      say(`  entries replayed from the bunker's log: ${last.entriesReplayed}; incomplete writes applied: ${last.incompleteWritesApplied}; ` +
        `bytes drained: ${last.bytesDrained}`);
      say(`  acknowledged writes lost (operator's record): ${last.acknowledgedWritesLost}`);
    }
    say(`acknowledged writes lost (checked here): ${result.lost.length}`);
    this.summary.verifyAfterTakeover = { node, acknowledged: result.acknowledged, blocksChecked: result.blocksChecked, lost: result.lost.length };
  }

  /** Step 7a: the old site back, the resync measured against the true difference. */
  async failback(): Promise<void> {
    const victim = this.summary.takeover?.killedSite ?? SITES[0];
    const rv = await this.volume();
    const primary = rv.status?.currentPrimary ?? '';
    const size = 256 * MiB;
    say('the operator is paused (SIGSTOP) while the old site comes back, so that the true difference between the two data files can be measured before it resyncs anything');
    this.cluster.pauseOperator();
    let trueDifference: number;
    try {
      if (this.cluster.network !== undefined) {
        await this.cluster.site(victim).restore();
        say(`network of ${victim} restored`);
      }
      await this.cluster.startAgent(victim);
      say(`agent of ${victim} restarted (it reopens its replica and waits for the operator before serving anything)`);
      await this.cluster.markReady(victim);
      say(`Node ${victim} Ready again`);
      await this.appliedEverything(victim);
      await this.appliedEverything(primary);
      trueDifference = await differingBytes(this.cluster.dataPath(victim, NAME), this.cluster.dataPath(primary, NAME), size);
      say(`true difference between the data files of ${victim} and ${primary}: ${mib(trueDifference)} in 4 KiB blocks (of ${mib(size)})`);
    } finally {
      this.cluster.resumeOperator();
    }
    say('operator resumed (SIGCONT)');
    const started = Date.now();
    const at = (): string => `+${((Date.now() - started) / 1000).toFixed(1)}s`.padStart(7);
    let lastLine = '';
    let lastPrinted = 0;
    let resyncing = '';
    const finished = await waitFor('the resync to finish', async () => {
      const status = (await this.volume()).status;
      for (const e of await this.newEvents()) sayAt(at(), `Event ${e.reason}: ${e.message}`);
      const cond = status?.conditions?.find((c) => c.type === 'Resyncing');
      const condText = cond === undefined ? '' : `${cond.status}/${cond.reason}`;
      if (condText !== resyncing) {
        resyncing = condText;
        sayAt(at(), `condition Resyncing=${cond?.status} ${cond?.reason}: ${cond?.message ?? ''}`);
      }
      const r = status?.resync;
      if (r !== undefined) {
        const line = `resync ${r.state} ${r.scope} ${r.sourceNode} -> ${r.targetNode}: compared ${mib(r.bytesDone ?? 0)} of ${mib(r.bytesTotal ?? 0)}, copied ${mib(r.bytesCopied ?? 0)}`;
        if (line !== lastLine && (Date.now() - lastPrinted > 1_000 || r.state !== 'Running')) {
          lastLine = line;
          lastPrinted = Date.now();
          sayAt(at(), `${line}`);
        }
      }
      return r?.state === 'Finished' && r.targetNode === victim && status?.phase === 'Ready' ? r : undefined;
    }, { timeoutMs: 180_000, intervalMs: 250 });
    const copied = finished.bytesCopied ?? 0;
    say(`resync finished: copied ${mib(copied)} (${copied} bytes) for a true difference of ${mib(trueDifference)} (${trueDifference} bytes): ` +
      `${trueDifference === 0 ? 'nothing differed' : `${(copied / trueDifference).toFixed(2)}x`}; compared ${mib(finished.bytesDone ?? 0)}, skipped ${mib(finished.bytesSkipped ?? 0)}`);
    this.summary.resync = {
      trueDifferenceBytes: trueDifference, bytesCopied: copied, bytesDone: finished.bytesDone ?? 0, bytesTotal: finished.bytesTotal ?? 0,
      scope: finished.scope, sourceNode: finished.sourceNode, targetNode: finished.targetNode, seconds: (Date.now() - started) / 1000,
    };
  }

  /** Step 7b: migrate the primary back under a writer. */
  async migrateBack(): Promise<void> {
    const target = this.summary.takeover?.killedSite ?? SITES[0];
    this.writer = await startWriter({
      dir: this.cluster.baseDir, label: 'writer-2', kubeConfig: this.kubeConfig, namespace: this.options.namespace, name: NAME, blocks: 16_384, seed: 2,
    });
    this.options.state.addProcess('writer', this.writer.child.pid ?? 0, 'verifiable-writer');
    const acks = new AckCounter(this.writer.ackLog);
    await waitFor('writes before the migration', async () => ((await acks.refresh()) > 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    const requestId = `back-${Date.now().toString(36)}`;
    const t0 = Date.now();
    const at = (): string => `+${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(7);
    say(`writer running again (${acks.count} acknowledged); kubectl patch rv ${NAME} --type merge -p '{"spec":{"migrate":{"requestId":"${requestId}","targetNode":"${target}"}}}'`);
    await this.ok(['patch', 'replicatedvolume', NAME, '--type', 'merge', '-p', JSON.stringify({ spec: { migrate: { requestId, targetNode: target } } })]);
    let lastStep = '';
    const done = await waitFor('the migration', async () => {
      const rv = await this.volume();
      const m = rv.status?.migration;
      for (const e of await this.newEvents()) sayAt(at(), `Event ${e.reason}: ${e.message}`);
      if (m !== undefined && m.step !== lastStep) {
        lastStep = m.step;
        sayAt(at(), `migration step ${m.step}: ${m.fromNode} -> ${m.targetNode}, epoch ${m.fromEpoch} -> ${m.toEpoch}`);
      }
      return rv.status?.lastMigration?.requestId === requestId && rv.status.currentPrimary === target && rv.status.endpoint?.address !== undefined ? rv : undefined;
    }, { timeoutMs: 90_000, intervalMs: 100 });
    const switched = (Date.now() - t0) / 1000;
    const atSwitch = await acks.refresh();
    await waitFor(`writes acknowledged by ${target}`, async () => ((await acks.refresh()) > atSwitch + 200 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    const ackLog = this.writer.ackLog;
    await this.stopWriter();
    const m = done.status?.lastMigration;
    if (m !== undefined) {
      say(`status.lastMigration: ${m.fromNode} (epoch ${m.fromEpoch}) -> ${m.toNode} (epoch ${m.toEpoch}), ${m.startedAt} to ${m.finishedAt}`);
      say(`  writes paused for ${m.pauseSeconds} s; acknowledged writes lost (operator's record): ${m.acknowledgedWritesLost}`);
    }
    const result = await this.verify(ackLog, target);
    say(`writer stopped after ${acks.count} acknowledged writes; ${result.blocksChecked} blocks checked in ${target}'s data file, ${result.lost.length} lost`);
    for (const loss of result.lost.slice(0, 5)) say(`LOST at offset ${loss.offset}: acknowledged write ${loss.acknowledged}, found ${loss.found}`);
    this.summary.migration = { requestId, record: m, requestToEndpointSeconds: switched };
    this.summary.verifyAfterMigration = { node: target, acknowledged: result.acknowledged, blocksChecked: result.blocksChecked, lost: result.lost.length };
  }

  /** The final figures, with the volume's status as the API server has it now. */
  async finish(): Promise<number> {
    const lost = (this.summary.verifyAfterTakeover?.lost ?? 0) + (this.summary.verifyAfterMigration?.lost ?? 0);
    this.summary.acknowledgedWritesLost = lost;
    const status = (await this.volume()).status;
    if (status !== undefined) this.summary.status = status;
    return lost;
  }
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(2)} MiB`;
}

