#!/usr/bin/env node
// bunker-operator: reconciles ReplicatedVolumes. Two replicas run; the one holding the
// leader Lease runs the controller, the other waits to take over. SIGTERM hands the Lease
// over at once (released, not left to expire), lets in-flight reconciles finish, and exits.
import type { KubeConfig } from '@kubernetes/client-node';
import { BunkerError } from '@bunker/proto/bunker-error';
import { AgentConnections } from '../agents/agent-connection.js';
import { agentPort } from '../agents/agent-port.js';
import { operatorUsage, parseOperatorConfig, type OperatorConfig } from '../config/operator-config.js';
import { Controller } from '../controller/controller.js';
import { ControllerRunner } from '../controller/controller-runner.js';
import { LeaderElection } from '../controller/leader-election.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { startMetricsServer } from '../observability/metrics-server.js';
import { PooledKubeConfig } from '../kube/pooled-kube-config.js';
import { OperatorMetrics } from '../observability/operator-metrics.js';

/** Distinct volume keys the work queue holds at most (a bound, far above any real count). */
const QUEUE_KEYS_MAX = 100_000;

function loadKubeConfig(config: OperatorConfig): KubeConfig {
  const kubeConfig = new PooledKubeConfig();
  if (config.kubeconfig === '') kubeConfig.loadFromCluster();
  else kubeConfig.loadFromFile(config.kubeconfig);
  return kubeConfig;
}

function startLeading(config: OperatorConfig, kubeConfig: KubeConfig, runner: ControllerRunner, logger: Logger, onFatal: (error: unknown) => void): LeaderElection | undefined {
  const lead = (): void => void runner.lead().catch(onFatal);
  if (!config.leaderElect) {
    lead();
    return undefined;
  }
  const election = new LeaderElection({
    kubeConfig, namespace: config.namespace, leaseName: config.leaderLeaseName, identity: config.identity,
    leaseDurationSeconds: config.leaseDurationSeconds, renewIntervalMs: config.renewIntervalMs,
    onStartedLeading: lead,
    onStoppedLeading: () => void runner.follow().catch(onFatal),
    onError: (error) => logger.warn({ err: error }, 'leader election round failed'),
  });
  election.start();
  return election;
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`${operatorUsage()}\n`);
    return;
  }
  const config = parseOperatorConfig(process.argv.slice(2), process.env);
  const logger = createLogger(config.identity, config.logLevel);
  const kubeConfig = loadKubeConfig(config);
  const metrics = new OperatorMetrics(config.identity);
  const connections = new AgentConnections(config.tls);
  if (config.tls === null) logger.warn({}, 'talking to the agents without TLS (give --tls-cert, --tls-key and --tls-ca)');
  const runner = new ControllerRunner(() => new Controller({
    kubeConfig, operatorNamespace: config.namespace, volumeNamespaces: config.volumeNamespaces, identity: config.identity,
    agents: agentPort(connections), metrics, logger, workers: config.workers, keysMax: QUEUE_KEYS_MAX,
  }), metrics, logger);
  const metricsServer = await startMetricsServer(metrics.registry, config.metricsHost, config.metricsPort);
  // Filled in below: stop() and the election's fatal-error path refer to each other.
  const leadership: { election: LeaderElection | undefined } = { election: undefined };
  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'stopping');
    // In-flight reconciles finish before the Lease is released, so that the next leader
    // never reconciles beside this one.
    await runner.close();
    await leadership.election?.stop();
    connections.closeAll();
    await metricsServer.close();
    logger.info('stopped');
  };
  const fatal = (error: unknown): void => {
    logger.error({ err: error }, 'controller failed');
    process.exitCode = 1;
    void stop('fatal error');
  };
  leadership.election = startLeading(config, kubeConfig, runner, logger, fatal);
  // One line tests and the demo read to learn the bound metrics port.
  logger.info({ metricsPort: metricsServer.port, leaderElect: config.leaderElect, namespace: config.namespace }, 'operator serving');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal));
}

main().catch((error: unknown) => {
  const hint = BunkerError.is(error) && error.hint !== '' ? `\n  hint: ${error.hint}` : '';
  process.stderr.write(`bunker-operator: ${error instanceof Error ? error.message : String(error)}${hint}\n`);
  process.exitCode = 1;
});
