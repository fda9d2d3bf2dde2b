// The operator's settings, from flags first and the environment second (the Helm chart sets
// the environment, see charts/bunker/templates/operator-deployment.yaml; tests and the local
// demo pass flags). A bad value fails start-up with a message naming the flag, never later.
import { hostname } from 'node:os';
import { BunkerError } from '@bunker/proto/bunker-error';

export interface OperatorConfig {
  /** Kubeconfig path; empty: in-cluster service account. */
  readonly kubeconfig: string;
  /** Namespace of the leader Lease and of the agents' heartbeat Leases. */
  readonly namespace: string;
  /** Namespaces whose volumes are reconciled; empty: all. */
  readonly volumeNamespaces: readonly string[];
  /** Leader-election identity: unique per replica (the Pod name in a cluster). */
  readonly identity: string;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly leaderElect: boolean;
  readonly leaderLeaseName: string;
  readonly leaseDurationSeconds: number;
  readonly renewIntervalMs: number;
  readonly workers: number;
  readonly logLevel: string;
  /** Mutual TLS to the agents: the operator's certificate, key and the installation's CA; null: plaintext. */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string } | null;
}

export class OperatorConfigError extends BunkerError<'InvalidConfig'> {
  constructor(message: string) {
    super('InvalidConfig', message, { hint: 'run bunker-operator --help for the flags and their environment variables' });
  }
}

interface Flag {
  readonly flag: string;
  readonly env: readonly string[];
  readonly fallback: string;
  readonly help: string;
}

const FLAGS = {
  kubeconfig: { flag: '--kubeconfig', env: ['KUBECONFIG'], fallback: '', help: 'kubeconfig path; empty: in-cluster' },
  namespace: { flag: '--namespace', env: ['BUNKER_NAMESPACE', 'POD_NAMESPACE'], fallback: 'bunker-system', help: 'namespace of the leader Lease and the agents\' Leases' },
  volumeNamespaces: { flag: '--volume-namespaces', env: ['BUNKER_VOLUME_NAMESPACES'], fallback: '', help: 'comma-separated namespaces whose volumes are reconciled; empty: all' },
  identity: { flag: '--identity', env: ['POD_NAME'], fallback: hostname(), help: 'leader-election identity, unique per replica' },
  metricsListen: { flag: '--metrics-listen', env: ['BUNKER_METRICS_LISTEN'], fallback: '0.0.0.0:9090', help: 'host:port of /metrics and /healthz (port 0: any free port)' },
  leaderElect: { flag: '--leader-elect', env: ['BUNKER_LEADER_ELECTION'], fallback: 'true', help: 'true|false: run the controller only while holding the leader Lease' },
  leaderLeaseName: { flag: '--leader-lease-name', env: ['BUNKER_LEADER_LEASE_NAME'], fallback: 'bunker-operator', help: 'name of the leader Lease' },
  leaseDurationSeconds: { flag: '--lease-duration-seconds', env: ['BUNKER_LEADER_LEASE_DURATION_SECONDS'], fallback: '15', help: 'a follower takes over once the leader has not renewed for this long' },
  renewIntervalSeconds: { flag: '--renew-interval-seconds', env: ['BUNKER_LEADER_RENEW_INTERVAL_SECONDS'], fallback: '', help: 'how often the leader renews (default: a third of the lease duration)' },
  workers: { flag: '--workers', env: ['BUNKER_WORKERS'], fallback: '4', help: 'volumes reconciled at once' },
  logLevel: { flag: '--log-level', env: ['BUNKER_LOG_LEVEL'], fallback: 'info', help: 'trace|debug|info|warn|error' },
  tlsCert: { flag: '--tls-cert', env: ['BUNKER_TLS_CERT'], fallback: '', help: 'PEM client certificate for mutual TLS to the agents (with --tls-key and --tls-ca; none: plaintext)' },
  tlsKey: { flag: '--tls-key', env: ['BUNKER_TLS_KEY'], fallback: '', help: 'PEM private key of --tls-cert' },
  tlsCa: { flag: '--tls-ca', env: ['BUNKER_TLS_CA'], fallback: '', help: 'PEM CA bundle that signed the agents\' certificates' },
} as const satisfies Record<string, Flag>;

type Key = keyof typeof FLAGS;

export function operatorUsage(): string {
  const lines = Object.values(FLAGS).map((f: Flag) => `  ${f.flag.padEnd(28)} ${f.help} (env ${f.env.join(' or ')}${f.fallback === '' ? '' : `, default ${f.fallback}`})`);
  return ['usage: bunker-operator [flags]', ...lines].join('\n');
}

export function parseOperatorConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): OperatorConfig {
  const given = parseArgv(argv);
  const value = (key: Key): string => {
    const flag: Flag = FLAGS[key];
    return given.get(flag.flag) ?? flag.env.map((name) => env[name]).find((v) => v !== undefined && v !== '') ?? flag.fallback;
  };
  const leaseDurationSeconds = integer('--lease-duration-seconds', value('leaseDurationSeconds'), 1, 600);
  const renewText = value('renewIntervalSeconds');
  const renewIntervalMs = renewText === '' ? Math.round((leaseDurationSeconds * 1000) / 3) : Math.round(decimal('--renew-interval-seconds', renewText) * 1000);
  if (renewIntervalMs <= 0 || renewIntervalMs >= leaseDurationSeconds * 1000) {
    throw new OperatorConfigError(`--renew-interval-seconds must be above 0 and below --lease-duration-seconds (${leaseDurationSeconds}), got "${renewText}"`);
  }
  const [metricsHost, metricsPort] = address('--metrics-listen', value('metricsListen'));
  const identity = value('identity');
  if (identity === '') throw new OperatorConfigError('--identity (or POD_NAME) must not be empty');
  return {
    kubeconfig: value('kubeconfig'),
    namespace: dnsLabel('--namespace', value('namespace')),
    volumeNamespaces: value('volumeNamespaces').split(',').map((n) => n.trim()).filter((n) => n !== '').map((n) => dnsLabel('--volume-namespaces', n)),
    identity, metricsHost, metricsPort,
    leaderElect: boolean('--leader-elect', value('leaderElect')),
    leaderLeaseName: dnsLabel('--leader-lease-name', value('leaderLeaseName')),
    leaseDurationSeconds, renewIntervalMs,
    workers: integer('--workers', value('workers'), 1, 64),
    logLevel: value('logLevel'),
    tls: tlsFiles(value('tlsCert'), value('tlsKey'), value('tlsCa')),
  };
}

function tlsFiles(certFile: string, keyFile: string, caFile: string): OperatorConfig['tls'] {
  const given = [certFile, keyFile, caFile].filter((v) => v !== '').length;
  if (given === 0) return null;
  if (given !== 3) throw new OperatorConfigError('--tls-cert, --tls-key and --tls-ca go together: give all three or none');
  return { certFile, keyFile, caFile };
}

function parseArgv(argv: readonly string[]): Map<string, string> {
  const given = new Map<string, string>();
  const known = new Set<string>(Object.values(FLAGS).map((f: Flag) => f.flag));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const at = arg.indexOf('=');
    const flag = at < 0 ? arg : arg.slice(0, at);
    if (!known.has(flag)) throw new OperatorConfigError(`unknown flag ${flag}`);
    const value = at < 0 ? argv[++i] : arg.slice(at + 1);
    if (value === undefined) throw new OperatorConfigError(`${flag} needs a value`);
    given.set(flag, value);
  }
  return given;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new OperatorConfigError(`${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  return value;
}

function decimal(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text)) throw new OperatorConfigError(`${flag} must be a number of seconds, got "${text}"`);
  return value;
}

function boolean(flag: string, text: string): boolean {
  if (text === 'true' || text === 'false') return text === 'true';
  throw new OperatorConfigError(`${flag} must be true or false, got "${text}"`);
}

function address(flag: string, text: string): [string, number] {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2] ?? NaN);
  if (match?.[1] === undefined || port > 65535) throw new OperatorConfigError(`${flag} must be host:port, got "${text}"`);
  return [match[1], port];
}

function dnsLabel(flag: string, text: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(text)) throw new OperatorConfigError(`${flag} must be a DNS label, got "${text}"`);
  return text;
}
