// Method: argv and environment in, config or a named error out.
import { OperatorConfigError, parseOperatorConfig } from './operator-config.js';

describe('parseOperatorConfig', () => {
  it('takes the chart\'s environment', () => {
    const config = parseOperatorConfig([], {
      POD_NAME: 'bunker-operator-7d9f-abc', BUNKER_NAMESPACE: 'bunker', BUNKER_VOLUME_NAMESPACES: 'apps, db',
      BUNKER_LEADER_ELECTION: 'true', BUNKER_LEADER_LEASE_DURATION_SECONDS: '15', BUNKER_LEADER_RENEW_INTERVAL_SECONDS: '5',
      BUNKER_METRICS_LISTEN: '0.0.0.0:9090',
    });
    expect(config).toMatchObject({
      identity: 'bunker-operator-7d9f-abc', namespace: 'bunker', volumeNamespaces: ['apps', 'db'], leaderElect: true,
      leaseDurationSeconds: 15, renewIntervalMs: 5_000, metricsHost: '0.0.0.0', metricsPort: 9090, kubeconfig: '',
    });
  });

  it('lets flags win over the environment, in both spellings', () => {
    const config = parseOperatorConfig(['--kubeconfig', '/tmp/kc', '--leader-elect=false', '--lease-duration-seconds', '4', '--renew-interval-seconds', '0.5'], {
      KUBECONFIG: '/elsewhere', BUNKER_LEADER_ELECTION: 'true',
    });
    expect(config).toMatchObject({ kubeconfig: '/tmp/kc', leaderElect: false, leaseDurationSeconds: 4, renewIntervalMs: 500 });
  });

  it('renews at a third of the lease duration by default', () => {
    expect(parseOperatorConfig(['--lease-duration-seconds', '6'], {}).renewIntervalMs).toBe(2_000);
  });

  it.each([
    [['--bogus', '1'], /unknown flag --bogus/],
    [['--leader-elect', 'yes'], /--leader-elect must be true or false/],
    [['--lease-duration-seconds', '0'], /--lease-duration-seconds must be an integer/],
    [['--lease-duration-seconds', '4', '--renew-interval-seconds', '4'], /--renew-interval-seconds must be above 0 and below/],
    [['--metrics-listen', '9090'], /--metrics-listen must be host:port/],
    [['--namespace', 'Bad_NS'], /--namespace must be a DNS label/],
    [['--workers'], /--workers needs a value/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseOperatorConfig(argv, {})).toThrow(OperatorConfigError);
    expect(() => parseOperatorConfig(argv, {})).toThrow(message);
  });
});
