// Far-link delay and the agents' resources at a fixed write load. For each one-way delay (0, 5,
// 20, 50 ms) a fresh trio is started whose secondary announces its gRPC address through a
// userspace delay relay (test/support/tcp-relay.ts startDelayRelay: this kernel has no
// sch_netem, so `tc qdisc … netem` is not available): every byte between the secondary and
// its peers (the primary's Ship stream and its acknowledgements) is held `delay` ms in each
// direction. The bunker link is untouched. fio then writes at a fixed rate (4 KiB random
// writes, QD1, 200 IOPS) to the primary's export; meanwhile the primary's Status is read every
// 100 ms (secondary lag: entries = durableSeq − secondaryDurableSeq, seconds =
// secondaryLagSeconds) and each agent's CPU (user + sys from /proc/PID/stat) and RSS
// (/proc/PID/status VmRSS) are sampled.
import { readFile } from 'node:fs/promises';
import { CpuMeter, runCommand } from '../datapath/proc.js';
import { NAMESPACE, replicaOn, say, sleep, type Cluster } from './harness.js';

export const RATE_IOPS = 200;

export interface FarLinkRun {
  readonly delayMs: number;
  readonly iops: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly lagEntriesMean: number;
  readonly lagEntriesMax: number;
  readonly lagSecondsMean: number;
  readonly lagSecondsMax: number;
  readonly catchUpSeconds: number;
  /** Cores (CPU seconds per second) per role, and the whole machine. */
  readonly cpu: { readonly primary: number; readonly bunker: number; readonly secondary: number; readonly machine: number };
  /** Peak RSS in MiB per role over the run. */
  readonly rssMiB: { readonly primary: number; readonly bunker: number; readonly secondary: number };
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) / 1024;
}

function percentile(raw: unknown, key: string): number {
  const jobs = (raw as { jobs?: Array<{ write?: { clat_ns?: { percentile?: Record<string, number> }; iops?: number } }> }).jobs;
  const value = jobs?.[0]?.write?.clat_ns?.percentile?.[key];
  return value === undefined ? Number.NaN : value / 1e6;
}

export async function farLinkRun(cluster: Cluster, index: number, delayMs: number, seconds: number): Promise<FarLinkRun> {
  const name = `farlink-${index}`;
  const trio = await cluster.trio(`fl${index}`, { secondaryDelayMs: delayMs });
  try {
    const { primary, bunker, secondary } = trio.nodes;
    await cluster.createVolume({ name, trio, size: '256Mi', log: '256Mi', graceSeconds: 10 });
    const p = trio.agent(primary);
    const pids = new Map([['primary', p.process.pid], ['bunker', trio.agent(bunker).process.pid], ['secondary', trio.agent(secondary).process.pid]]);
    const lag: Array<{ entries: number; seconds: number }> = [];
    const rss = { primary: 0, bunker: 0, secondary: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const status = await replicaOn(p, name).catch(() => undefined);
        if (status !== undefined) lag.push({ entries: Math.max(0, status.durableSeq - status.secondaryDurableSeq), seconds: status.secondaryLagSeconds });
        for (const [role, pid] of pids) rss[role as keyof typeof rss] = Math.max(rss[role as keyof typeof rss], await rssMiB(pid));
        await sleep(100);
      }
    })();
    const meter = new CpuMeter(pids);
    // fio's 1 s ramp is left out of its figures; the CPU meter starts with it.
    const fio = runCommand('fio', [
      '--name=farlink', '--ioengine=nbd', `--uri=nbd://${p.host}:${p.nbdPort}/${NAMESPACE}/${name}`, '--rw=randwrite', '--bs=4k', '--iodepth=1',
      `--rate_iops=${RATE_IOPS}`, '--size=256M', '--time_based', `--runtime=${seconds}`, '--ramp_time=1', '--randrepeat=0', '--norandommap', '--output-format=json',
    ], { timeoutMs: (seconds + 40) * 1000 });
    await sleep(1_000);
    await meter.start();
    const result = await fio;
    const cpu = await meter.stop();
    sampling = false;
    await sampler;
    if (result.code !== 0) throw new Error(`fio failed: ${result.stderr}`);
    const raw: unknown = JSON.parse(result.stdout.slice(result.stdout.indexOf('{')));
    const ended = Date.now();
    const durable = (await replicaOn(p, name))?.durableSeq ?? 0;
    await (async () => {
      for (;;) {
        const s = await replicaOn(p, name);
        if ((s?.secondaryDurableSeq ?? 0) >= durable || Date.now() - ended > 60_000) return;
        await sleep(20);
      }
    })();
    const catchUpSeconds = (Date.now() - ended) / 1000;
    const entries = lag.map((l) => l.entries);
    const secs = lag.map((l) => l.seconds);
    const mean = (xs: number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
    const jobs = (raw as { jobs?: Array<{ write?: { iops?: number } }> }).jobs;
    const run: FarLinkRun = {
      delayMs, iops: jobs?.[0]?.write?.iops ?? Number.NaN,
      p50Ms: percentile(raw, '50.000000'), p99Ms: percentile(raw, '99.000000'),
      lagEntriesMean: mean(entries), lagEntriesMax: Math.max(0, ...entries), lagSecondsMean: mean(secs), lagSecondsMax: Math.max(0, ...secs),
      catchUpSeconds,
      cpu: { primary: cpu.byName['primary'] ?? 0, bunker: cpu.byName['bunker'] ?? 0, secondary: cpu.byName['secondary'] ?? 0, machine: cpu.machineCores },
      rssMiB: rss,
    };
    say(`  delay ${delayMs} ms: ${run.iops.toFixed(0)} IOPS, p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms; lag mean ${run.lagEntriesMean.toFixed(1)} entries / ${run.lagSecondsMean.toFixed(3)} s; ` +
      `CPU p ${run.cpu.primary.toFixed(2)} b ${run.cpu.bunker.toFixed(2)} s ${run.cpu.secondary.toFixed(2)}`);
    return run;
  } finally {
    await cluster.deleteVolume(name);
    await cluster.stopTrio(trio);
  }
}
