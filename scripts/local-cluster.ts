// The README's first command (`bash scripts/main.sh`, also `npm run demo`): Bunker's whole
// story on one machine. A local Kubernetes control plane (etcd + kube-apiserver, cached),
// Bunker's Helm chart, three sites (each agent in a network namespace of its own when root),
// the example ReplicatedVolume brought to Ready, a verifiable writer under a live table, the
// primary site killed and taken over with no acknowledged write lost, the old site brought back
// and resynchronized, and the primary migrated back. Then it is left running for kubectl until
// Ctrl-C (or stops at once with --exit). The steps live in scripts/demo/.
//
//   --exit             tear down at the end instead of waiting for Ctrl-C
//   --down             clean up what an earlier run left (processes, network namespaces, folders)
//   --summary PATH     write the figures and the volume's final status as JSON
//   --subnet N         sites on 10.213.N.0/24 (default 70, or BUNKER_DEMO_SUBNET)
//   --namespace NS     the volume's namespace (default: default)
//   --table-seconds S  how long the live table runs (default 8)
//   --far-delay-ms MS  one-way delay of the far link (default 30)
//   --data-dir PATH    keep the agents' data and logs there (not removed at the end)
// BUNKER_DEMO_KUBECONFIG: use that control plane instead of starting one.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DemoCluster, SITES } from './demo/cluster.js';
import { down, StateFile } from './demo/state.js';
import { Story } from './demo/story.js';
import { elapsedSeconds, say, step, write, wrap } from './demo/ui.js';

const { values } = parseArgs({
  options: {
    exit: { type: 'boolean', default: false },
    down: { type: 'boolean', default: false },
    summary: { type: 'string' },
    subnet: { type: 'string', default: process.env['BUNKER_DEMO_SUBNET'] ?? '70' },
    namespace: { type: 'string', default: 'default' },
    'table-seconds': { type: 'string', default: '8' },
    'far-delay-ms': { type: 'string', default: '30' },
    'data-dir': { type: 'string' },
  },
  strict: true,
});

const subnet = Number(values.subnet);
if (!Number.isInteger(subnet) || subnet < 1 || subnet > 254) throw new Error(`--subnet ${values.subnet}: an integer from 1 to 254`);

async function main(): Promise<number> {
  if (values.down) {
    write(`cleaning up what a demo run on subnet ${subnet} left behind`);
    await down(subnet, SITES, (line) => say(line));
    return 0;
  }
  const state = new StateFile(subnet);
  const cluster = new DemoCluster({
    subnet, volumeNamespace: values.namespace, farDelayMs: Number(values['far-delay-ms']), state,
    ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }),
  });
  let story: Story | undefined;
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      await story?.stopWriter().catch(() => undefined);
      await cluster.close();
      state.remove();
    })();
    await closing;
  };
  // Ctrl-C in the middle of the story still stops everything it started.
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    write('\ninterrupted: stopping everything this run started');
    void close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let lost: number;
  try {
    write(wrap('Bunker: a replicated block volume with a synchronous log-only bunker and an asynchronous far secondary, losing no acknowledged write when its primary site dies.'));
    await step('1', 'control plane: etcd and kube-apiserver on loopback', () => cluster.startControlPlane());
    await step('2', 'Bunker: Helm chart, three Nodes, three agents and the operator', () => cluster.install());
    story = new Story(cluster, { namespace: values.namespace, tableSeconds: Number(values['table-seconds']), state });
    const s = story;
    await step('3', 'kubectl apply the example ReplicatedVolume and wait for Ready', () => s.applyExample());
    await step('4', 'a verifiable writer through the volume\'s NBD endpoint', () => s.writeUnderTable());
    await step('5', 'the primary site dies: agent killed, network cut, Node NotReady', () => s.killPrimary());
    await step('6', 'every acknowledged write checked on the new primary', () => s.verifyTakeover());
    await step('7', 'the old site comes back: resync, then migrate the primary back', async () => {
      await s.failback();
      await s.migrateBack();
    });
    lost = await s.finish();
    if (values.summary !== undefined) {
      await writeFile(values.summary, `${JSON.stringify(s.summary, null, 2)}\n`);
      say(`summary written to ${values.summary}`);
    }
    write('');
    write(`The story took ${elapsedSeconds().toFixed(0)} s.`);
    write(`acknowledged writes lost: ${lost}`);
  } catch (error) {
    const reported = error instanceof Error && (error as Error & { reported?: boolean }).reported === true;
    if (!reported) write(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    write(`logs of the agents and the operator: ${cluster.baseDir || '(none yet)'}`);
    await close();
    return 1;
  }
  if (values.exit) {
    await close();
    return lost === 0 ? 0 : 1;
  }
  write('');
  write('Everything keeps running for exploration; Ctrl-C stops it and removes its data:');
  write(`  export KUBECONFIG=${cluster.kubeconfig}`);
  write(`  kubectl get rv -o wide; kubectl describe rv demo; kubectl get events -n ${values.namespace}`);
  const endpoint = story.summary.status?.endpoint?.address;
  if (endpoint !== undefined) write(`  qemu-io -f raw -c 'read -v 0 512' nbd://${endpoint}/${values.namespace}/demo`);
  write(`  logs of the agents and the operator: ${cluster.baseDir}`);
  await new Promise<void>(() => undefined);
  return 0;
}

main().then((code) => {
  process.exitCode = code;
}, (error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exitCode = 1;
});
