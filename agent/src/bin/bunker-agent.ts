#!/usr/bin/env node
// bunker-agent: the per-node Bunker agent. Serves the volumes this node holds in their roles
// (primary, bunker, secondary), announces itself with a heartbeat Lease, exports metrics.
// SIGTERM stops it gracefully: no new work, in-flight writes finish, logs are synced.
import { KubeConfig } from '@kubernetes/client-node';
import { BunkerError } from '@bunker/proto/bunker-error';
import { Agent } from '../agent.js';
import { agentUsage, parseAgentConfig } from '../config/agent-config.js';
import { HeartbeatLease } from '../discovery/heartbeat-lease.js';
import { AgentMetrics } from '../observability/agent-metrics.js';
import { createLogger } from '../observability/logger.js';
import { startMetricsServer } from '../observability/metrics-server.js';
import { injectedFaults } from '../faults/injected-faults.js';

const AGENT_VERSION = '0.1.0';

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`${agentUsage()}\n`);
    return;
  }
  const config = parseAgentConfig(process.argv.slice(2), process.env);
  const logger = createLogger(config.node, config.logLevel);
  const metrics = new AgentMetrics(config.node);
  if (config.faultFile !== '') {
    logger.warn({ faultFile: config.faultFile }, 'fault injection is on: I/O fails or slows down as the fault file says (tests only)');
    injectedFaults.follow(config.faultFile, (plan) => logger.warn({ plan }, 'fault plan changed'), (error) => logger.error({ err: error }, 'fault plan refused; the previous one stays'));
  }
  const agent = new Agent(config, logger, metrics);
  await agent.start();
  const metricsAt = config.metricsListen.lastIndexOf(':');
  const metricsServer = await startMetricsServer(metrics.registry, config.metricsListen.slice(0, metricsAt), Number(config.metricsListen.slice(metricsAt + 1)), () => true, () => agent.refreshMetrics());
  const metricsAddress = metricsServer.address();
  const metricsPort = typeof metricsAddress === 'object' && metricsAddress !== null ? metricsAddress.port : 0;
  let heartbeat: HeartbeatLease | undefined;
  if (config.kubeconfig !== 'none') {
    const kubeConfig = new KubeConfig();
    if (config.kubeconfig === '') kubeConfig.loadFromCluster();
    else kubeConfig.loadFromFile(config.kubeconfig);
    heartbeat = new HeartbeatLease({
      kubeConfig, namespace: config.namespace, node: config.node,
      grpcAddress: config.advertiseGrpc.endsWith(':0') ? `${config.advertiseGrpc.slice(0, -2)}:${agent.grpcPort}` : config.advertiseGrpc,
      nbdHost: config.nbdListen.slice(0, config.nbdListen.lastIndexOf(':')),
      capacityBytes: 0, agentVersion: AGENT_VERSION, leaseDurationSeconds: config.leaseDurationSeconds,
      onError: (error) => logger.warn({ err: error }, 'heartbeat Lease renewal failed'),
    });
    await heartbeat.start();
  }
  // One line the demo and tests read to learn the bound ports.
  process.stdout.write(`${JSON.stringify({ msg: 'ready', node: config.node, grpcPort: agent.grpcPort, nbdPort: agent.nbdPort, metricsPort })}\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing in-flight writes');
    heartbeat?.stop();
    agent.stop().then(
      () => metricsServer.close(() => logger.info('stopped')),
      (error: unknown) => {
        logger.error({ err: error }, 'graceful stop failed');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  const hint = BunkerError.is(error) && error.hint !== '' ? `\n  hint: ${error.hint}` : '';
  process.stderr.write(`bunker-agent: ${error instanceof Error ? error.message : String(error)}${hint}\n`);
  process.exitCode = 1;
});
