// Proves the repo's single module format (ESM) works under jest for the dependencies that
// force it: @kubernetes/client-node 2.x is ESM only; the generated protocol is ours.
import * as k8s from '@kubernetes/client-node';
import { LogEntry, EntryKind, ReplicationService } from '@bunker/proto';

describe('module format', () => {
  it('loads the ESM-only Kubernetes client', () => {
    const config = new k8s.KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    expect(config.getCurrentCluster()?.server).toBe('https://127.0.0.1:1');
    expect(typeof config.makeApiClient(k8s.CoreV1Api).listNode).toBe('function');
  });

  it('round-trips a log entry through the generated protobuf code, keeping u64 exact', () => {
    const entry: LogEntry = {
      epoch: 3,
      seq: Number.MAX_SAFE_INTEGER,
      offset: 4096,
      length: 4,
      kind: EntryKind.ENTRY_KIND_WRITE,
      crc32c: 0xdeadbeef,
      payload: Buffer.from([1, 2, 3, 4]),
    };
    const decoded = LogEntry.decode(LogEntry.encode(entry).finish());
    expect(decoded.seq).toBe(Number.MAX_SAFE_INTEGER);
    expect(Buffer.from(decoded.payload)).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(ReplicationService.append.requestStream).toBe(true);
  });

  it('refuses a u64 that a JavaScript number cannot hold exactly', () => {
    // 2^53 + 1 encoded by hand as a varint: field 2 (seq), wire type 0.
    const tooBig = Buffer.from([0x10, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(() => LogEntry.decode(tooBig)).toThrow(/MAX_SAFE_INTEGER/);
  });
});
