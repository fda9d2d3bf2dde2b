// The agent's settings, from flags first and environment second (the DaemonSet sets the
// environment; tests and the demo pass flags). Bad values fail start-up with a message that
// names the flag, never later.
import { BunkerError } from '@bunker/proto/bunker-error';

export interface AgentConfig {
  readonly node: string;
  readonly dataDir: string;
  readonly grpcListen: string;
  /** host:port the NBD server listens on; the host part is also what consumers are told. */
  readonly nbdListen: string;
  readonly metricsListen: string;
  /** Kubeconfig for the heartbeat Lease; empty means in-cluster, 'none' means no Lease. */
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly leaseDurationSeconds: number;
  /** Address peers and the operator use to reach this agent's gRPC server. */
  readonly advertiseGrpc: string;
  readonly logLevel: string;
  /** Mutual TLS on gRPC: all three PEM files, or all empty (plaintext). */
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly tlsCa: string;
  /** How often the TLS files are read again (rotation takes effect within this). */
  readonly tlsRefreshSeconds: number;
  /** Test-only: a JSON fault plan injected into the data and log files (agent/src/faults). */
  readonly faultFile: string;
}

export class ConfigError extends BunkerError<'InvalidConfig'> {
  constructor(message: string) {
    super('InvalidConfig', message, { hint: 'run bunker-agent --help for the flags and their environment variables' });
  }
}

const FLAGS: ReadonlyArray<{ key: keyof AgentConfig; flag: string; env: string; fallback?: string; help: string }> = [
  { key: 'node', flag: '--node', env: 'NODE_NAME', help: 'Kubernetes node name this agent serves' },
  { key: 'dataDir', flag: '--data-dir', env: 'BUNKER_DATA_DIR', fallback: '/var/lib/bunker', help: 'folder for data volumes and logs' },
  { key: 'grpcListen', flag: '--grpc-listen', env: 'BUNKER_GRPC_LISTEN', fallback: '0.0.0.0:7443', help: 'gRPC listen address' },
  { key: 'nbdListen', flag: '--nbd-listen', env: 'BUNKER_NBD_LISTEN', fallback: '0.0.0.0:10809', help: 'NBD listen address' },
  { key: 'metricsListen', flag: '--metrics-listen', env: 'BUNKER_METRICS_LISTEN', fallback: '0.0.0.0:9090', help: 'Prometheus metrics address' },
  { key: 'kubeconfig', flag: '--kubeconfig', env: 'KUBECONFIG', fallback: '', help: "kubeconfig path; empty: in-cluster; 'none': no heartbeat Lease" },
  { key: 'namespace', flag: '--namespace', env: 'BUNKER_NAMESPACE', fallback: 'bunker-system', help: 'namespace of the heartbeat Leases' },
  { key: 'leaseDurationSeconds', flag: '--lease-duration-seconds', env: 'BUNKER_LEASE_DURATION_SECONDS', fallback: '10', help: 'heartbeat Lease duration' },
  { key: 'advertiseGrpc', flag: '--advertise-grpc', env: 'BUNKER_ADVERTISE_GRPC', fallback: '', help: 'gRPC address announced to peers (default: the listen address)' },
  { key: 'logLevel', flag: '--log-level', env: 'BUNKER_LOG_LEVEL', fallback: 'info', help: 'trace|debug|info|warn|error' },
  { key: 'tlsCert', flag: '--tls-cert', env: 'BUNKER_TLS_CERT', fallback: '', help: 'PEM certificate for mutual TLS on gRPC (with --tls-key and --tls-ca; none: plaintext)' },
  { key: 'tlsKey', flag: '--tls-key', env: 'BUNKER_TLS_KEY', fallback: '', help: 'PEM private key of --tls-cert' },
  { key: 'tlsCa', flag: '--tls-ca', env: 'BUNKER_TLS_CA', fallback: '', help: 'PEM CA bundle: only peers and the operator it signed are served' },
  { key: 'faultFile', flag: '--fault-file', env: 'BUNKER_FAULT_FILE', fallback: '', help: 'TESTS ONLY: JSON plan of I/O faults (EIO, ENOSPC, delays) to inject into the data and log files' },
  { key: 'tlsRefreshSeconds', flag: '--tls-refresh-seconds', env: 'BUNKER_TLS_REFRESH_SECONDS', fallback: '30', help: 'how often the TLS files are read again (certificate rotation)' },
];

export function agentUsage(): string {
  return ['usage: bunker-agent [flags]', ...FLAGS.map((f) => `  ${f.flag.padEnd(26)} ${f.help} (env ${f.env}${f.fallback !== undefined && f.fallback !== '' ? `, default ${f.fallback}` : ''})`)].join('\n');
}

function checkAddress(flag: string, value: string): string {
  const match = /^(.+):(\d{1,5})$/.exec(value);
  const port = match?.[2] === undefined ? NaN : Number(match[2]);
  if (match === null || port > 65535) throw new ConfigError(`${flag} must be host:port, got "${value}"`);
  return value;
}

export function parseAgentConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): AgentConfig {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const known = FLAGS.find((f) => f.flag === flag);
    if (known === undefined) throw new ConfigError(`unknown flag ${flag}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    values.set(known.key, value);
  }
  const pick = (f: (typeof FLAGS)[number]): string => {
    const value = values.get(f.key) ?? env[f.env] ?? f.fallback;
    if (value === undefined || value === '' && f.fallback === undefined) throw new ConfigError(`${f.flag} (or ${f.env}) is required`);
    return value;
  };
  const raw = Object.fromEntries(FLAGS.map((f) => [f.key, pick(f)])) as Record<keyof AgentConfig, string>;
  const leaseDurationSeconds = Number(raw.leaseDurationSeconds);
  if (!Number.isInteger(leaseDurationSeconds) || leaseDurationSeconds < 1 || leaseDurationSeconds > 300) {
    throw new ConfigError(`--lease-duration-seconds must be an integer from 1 to 300, got "${raw.leaseDurationSeconds}"`);
  }
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(raw.node)) throw new ConfigError(`--node must be a Kubernetes node name, got "${raw.node}"`);
  const grpcListen = checkAddress('--grpc-listen', raw.grpcListen);
  const tlsGiven = [raw.tlsCert, raw.tlsKey, raw.tlsCa].filter((v) => v !== '').length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new ConfigError('--tls-cert, --tls-key and --tls-ca go together: give all three or none');
  const tlsRefreshSeconds = Number(raw.tlsRefreshSeconds);
  if (!Number.isInteger(tlsRefreshSeconds) || tlsRefreshSeconds < 1 || tlsRefreshSeconds > 3600) {
    throw new ConfigError(`--tls-refresh-seconds must be an integer from 1 to 3600, got "${raw.tlsRefreshSeconds}"`);
  }
  return {
    ...raw,
    grpcListen,
    nbdListen: checkAddress('--nbd-listen', raw.nbdListen),
    metricsListen: checkAddress('--metrics-listen', raw.metricsListen),
    advertiseGrpc: raw.advertiseGrpc === '' ? grpcListen : checkAddress('--advertise-grpc', raw.advertiseGrpc),
    leaseDurationSeconds,
    tlsRefreshSeconds,
  };
}
