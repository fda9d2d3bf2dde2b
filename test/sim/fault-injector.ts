// Method: the faults a seed may inject, and their repair. At most one node is down and at
// most two replica links are cut at a time, so that the volume can make progress between
// faults; each fault heals after a random delay (in clock ticks):
//  - crash of any node (unsynced log tail and volume writes partly lost, last entry torn),
//    restarted later from its disk alone;
//  - partition of any replica link (both ends see the stream break);
//  - cut of the operator's link to a node (its Lease expires, configure calls fail);
//  - I/O errors on the primary's data volume (at most once a run, only while a secondary
//    exists); the failed volume is replaced (zeroes) once the node has been fenced;
//  - a takeover request at any moment, healthy primary or not.
import type { NodeName } from '@bunker/proto/ids';
import type { Simulation } from './simulation.js';

type Fault = 'crash' | 'partition' | 'operator-cut' | 'data-fail' | 'takeover-request' | 'repair';

interface Heal {
  readonly atTime: number;
  readonly kind: 'link' | 'operator';
  readonly a: NodeName;
  readonly b: NodeName;
}

export class FaultInjector {
  private heals: Heal[] = [];
  private dataFailures = 0;
  private requests = 0;

  constructor(private readonly sim: Simulation) {}

  inject(): void {
    const sim = this.sim;
    const nodes = [...sim.nodes.values()];
    const status = sim.operator.status;
    const choices: [Fault, number][] = [];
    if (nodes.every((n) => n.up)) choices.push(['crash', 3]);
    if (sim.network.partitioned.size < 2) choices.push(['partition', 3]);
    if (sim.operatorCut.size === 0) choices.push(['operator-cut', 1]);
    const primary = sim.nodes.get(status.primary);
    if (this.dataFailures === 0 && primary?.up === true && status.secondary !== null && status.takeover === null) choices.push(['data-fail', 0.5]);
    if (status.manualRequest === null && status.secondary !== null) choices.push(['takeover-request', 1]);
    if (nodes.some((n) => this.repairable(n.name))) choices.push(['repair', 2]);
    if (choices.length === 0) return;
    this.perform(sim.prng.weighted(choices));
  }

  private perform(fault: Fault): void {
    const sim = this.sim;
    const prng = sim.prng;
    switch (fault) {
      case 'crash': {
        const node = prng.pick([...sim.nodes.values()]);
        this.crash(node.name);
        node.restartAtTime = sim.time + prng.between(1, 10);
        return;
      }
      case 'partition': {
        const names = [...sim.nodes.keys()];
        const links = pairs(names).filter(([a, b]) => !sim.network.isPartitioned(a, b));
        const [a, b] = prng.pick(links);
        sim.network.partition(a, b);
        sim.stats.partitions += 1;
        sim.trace.add(`FAULT partition ${a} / ${b}`);
        sim.nodes.get(a)?.step({ kind: 'link-down', peer: b });
        sim.nodes.get(b)?.step({ kind: 'link-down', peer: a });
        this.heals.push({ atTime: sim.time + prng.between(1, 15), kind: 'link', a, b });
        return;
      }
      case 'operator-cut': {
        const node = prng.pick([...sim.nodes.keys()]);
        sim.operatorCut.add(node);
        sim.trace.add(`FAULT operator cut from ${node}`);
        this.heals.push({ atTime: sim.time + prng.between(1, 15), kind: 'operator', a: node, b: node });
        return;
      }
      case 'data-fail': {
        const primary = sim.nodes.get(sim.operator.status.primary);
        if (primary === undefined) return;
        this.dataFailures += 1;
        sim.trace.add(`FAULT data volume of ${primary.name} fails (EIO)`);
        primary.failData('EIO on the data volume');
        return;
      }
      case 'takeover-request':
        this.requests += 1;
        sim.trace.add(`FAULT takeover request r${this.requests}`);
        sim.operator.requestTakeover(`r${this.requests}`);
        return;
      case 'repair': {
        const node = prng.pick([...sim.nodes.keys()].filter((n) => this.repairable(n)));
        this.replaceVolume(node);
        return;
      }
    }
  }

  private repairable(name: NodeName): boolean {
    const node = this.sim.nodes.get(name);
    return node !== undefined && node.disk.dataFailed !== null && node.disk.intent.role === 'none';
  }

  private replaceVolume(name: NodeName): void {
    const sim = this.sim;
    const node = sim.nodes.get(name);
    if (node === undefined) return;
    if (node.up) this.crash(name);
    node.disk.replaceVolume();
    node.restartAtTime = null;
    node.start();
    sim.trace.add(`REPAIR ${name}: data volume replaced (zeroes), agent restarted`);
  }

  private crash(name: NodeName): void {
    const sim = this.sim;
    const node = sim.nodes.get(name);
    if (node === undefined || !node.up) return;
    sim.stats.crashes += 1;
    sim.trace.add(`FAULT crash ${name}: ${node.crash(sim.prng)}`);
    sim.network.dropNode(name);
    sim.client.forget(name);
    for (const other of sim.nodes.values()) if (other.name !== name) other.step({ kind: 'link-down', peer: name });
  }

  onClock(): void {
    const sim = this.sim;
    for (const node of sim.nodes.values()) {
      if (!node.up && node.restartAtTime !== null && node.restartAtTime <= sim.time) this.restart(node.name);
    }
    const due = this.heals.filter((h) => h.atTime <= sim.time);
    this.heals = this.heals.filter((h) => h.atTime > sim.time);
    for (const heal of due) this.heal(heal);
  }

  private restart(name: NodeName): void {
    const node = this.sim.nodes.get(name);
    if (node === undefined || node.up) return;
    node.restartAtTime = null;
    node.start();
    this.sim.trace.add(`RESTART ${name} (boot ${node.disk.bootCount}) as ${node.disk.intent.role}@${node.disk.intent.epoch}`);
  }

  private heal(heal: Heal): void {
    const sim = this.sim;
    if (heal.kind === 'operator') {
      sim.operatorCut.delete(heal.a);
      sim.trace.add(`HEAL operator link to ${heal.a}`);
    } else {
      sim.network.heal(heal.a, heal.b);
      sim.trace.add(`HEAL ${heal.a} / ${heal.b}`);
    }
  }

  healAll(): void {
    for (const heal of this.heals) this.heal(heal);
    this.heals = [];
    for (const node of this.sim.nodes.values()) if (!node.up) this.restart(node.name);
  }

  /** While settling: a failed volume is replaced once its node no longer serves. */
  repairIfDue(): void {
    for (const name of this.sim.nodes.keys()) if (this.repairable(name)) this.replaceVolume(name);
  }
}

function pairs(names: readonly NodeName[]): [NodeName, NodeName][] {
  const out: [NodeName, NodeName][] = [];
  for (let i = 0; i < names.length; i += 1) {
    for (let j = i + 1; j < names.length; j += 1) {
      const a = names[i];
      const b = names[j];
      if (a !== undefined && b !== undefined) out.push([a, b]);
    }
  }
  return out;
}
