// Flags and environment become one typed config; bad values fail with a message naming the flag.
import { parseAgentConfig, ConfigError } from './agent-config.js';

describe('parseAgentConfig', () => {
  it('takes flags over environment over defaults', () => {
    const config = parseAgentConfig(['--node', 'site-a', '--grpc-listen=127.0.0.1:7001'], { BUNKER_NBD_LISTEN: '127.0.0.1:10001' });
    expect(config).toMatchObject({ node: 'site-a', grpcListen: '127.0.0.1:7001', nbdListen: '127.0.0.1:10001', advertiseGrpc: '127.0.0.1:7001', leaseDurationSeconds: 10 });
  });

  it.each([
    [['--grpc-listen', '127.0.0.1:7001'], {}, /--node \(or NODE_NAME\) is required/],
    [['--node', 'Site_A'], {}, /--node must be a Kubernetes node name/],
    [['--node', 'a', '--nbd-listen', 'nowhere'], {}, /--nbd-listen must be host:port/],
    [['--node', 'a', '--lease-duration-seconds', '0'], {}, /--lease-duration-seconds must be an integer/],
    [['--node', 'a', '--bogus', 'x'], {}, /unknown flag --bogus/],
    [['--node'], {}, /--node needs a value/],
  ])('refuses %j', (argv, env, message) => {
    expect(() => parseAgentConfig(argv, env)).toThrow(ConfigError);
    expect(() => parseAgentConfig(argv, env)).toThrow(message);
  });
});
