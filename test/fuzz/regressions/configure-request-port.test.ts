// Regression from the ConfigureRequest fuzzer (wire-messages.fuzz.test.ts): a peer address
// with port 0 or above 65535 matched the host:port pattern and was accepted, so the agent
// would persist an address no gRPC client can dial. Counterexample as fast-check shrank it:
//   [{ field: 'primary', value: { node: '\u0000', address: 'host:0' } }]
import { FillPolicy, RecoveryMode, Role, SecondaryMode, type ConfigureRequest } from '@bunker/proto';
import { recordFromRequest } from '../../../agent/src/server/intent-from-request.js';

const request: ConfigureRequest = {
  volume: 'default/demo', epoch: 3, role: Role.ROLE_PRIMARY, sizeBytes: 256 * 1024 * 1024, logBytes: 64 * 1024 * 1024,
  recovery: RecoveryMode.RECOVERY_MODE_SYNC, secondary: SecondaryMode.SECONDARY_MODE_ASYNC, fillPolicy: FillPolicy.FILL_POLICY_TRACK_CHANGES,
  primary: { node: 'site-a', address: 'site-a.bunker:7100' }, bunker: { node: 'site-b', address: '10.0.0.2:7100' },
  secondaryPeer: { node: 'site-c', address: 'site-c:7100' }, changeMapRegionBytes: 0,
  volumeUid: '5f0c2a1e-9b7d-4c3a-8e21-0d4b6f7a9c10', clearChangeMap: false,
};

describe('ConfigureRequest peer addresses', () => {
  it.each(['host:0', 'host:65536', 'host:99999', 'host:00000'])('refuses %s with InvalidArgument', (address) => {
    expect(() => recordFromRequest({ ...request, primary: { node: '\u0000', address } })).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });

  it.each(['host:1', 'host:65535', '10.0.0.2:7100'])('accepts %s', (address) => {
    expect(recordFromRequest({ ...request, primary: { node: 'site-a', address } }).record.addresses['site-a']).toBe(address);
  });
});
