// The NBD device over a replica: a limit that pushes back is counted (the agent exports it as
// bunker_limit_pushback_total), a write the core held back is retried, and the client gets a
// protocol error, never a false success.
import type { RequestAnswer } from '../replication/index.js';
import { ReplicatedBlockDevice } from './replicated-block-device.js';
import { VolumeBusyError, type VolumeReplica } from './volume-replica.js';

type Fake = Pick<VolumeReplica, 'submit' | 'data' | 'record' | 'name'>;

function fake(answers: Array<RequestAnswer | Error>, fillPolicy: 'trackChanges' | 'block' | 'fail' = 'fail'): Fake {
  return {
    name: 'ns/v',
    data: null,
    record: { shape: { volume: 'ns/v', volumeUid: 'u', sizeBytes: 1 << 20, logBytes: 1 << 22, fillPolicy, regionBytes: 4096 }, addresses: {}, intent: {} } as unknown as VolumeReplica['record'],
    submit: () => {
      const next = answers.shift();
      if (next === undefined) throw new Error('no more answers');
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  };
}

describe('ReplicatedBlockDevice', () => {
  it('counts each time the core\'s window pushes back, and retries until the write is taken', async () => {
    const limits: string[] = [];
    const backpressure: RequestAnswer = { kind: 'failed', id: 1, failure: { kind: 'Backpressure', pendingRequests: 512, windowEntries: 4096 } };
    const device = new ReplicatedBlockDevice(fake([backpressure, backpressure, { kind: 'ok', id: 1, seq: 1 as never }]), (limit) => limits.push(limit));
    await device.write(0, new Uint8Array(4096), { fua: false });
    expect(limits).toEqual(['replica-window', 'replica-window']);
  });

  it('counts a full event queue and answers the client with an error, not a success', async () => {
    const limits: string[] = [];
    const device = new ReplicatedBlockDevice(fake([new VolumeBusyError('Busy', 'volume ns/v: too many queued events')]), (limit) => limits.push(limit));
    await expect(device.write(0, new Uint8Array(4096), { fua: false })).rejects.toMatchObject({ code: 'shutting-down' });
    expect(limits).toEqual(['event-queue']);
  });

  const logFull: RequestAnswer = { kind: 'failed', id: 1, failure: { kind: 'LogFull', usedBytes: 15 << 20, logBytesMax: 15 << 20 } };

  it('fillPolicy fail: a write the full log cannot take gets ENOSPC at once, and the limit is counted', async () => {
    const limits: string[] = [];
    const device = new ReplicatedBlockDevice(fake([logFull, { kind: 'ok', id: 1, seq: 1 as never }]), (limit) => limits.push(limit));
    await expect(device.write(0, new Uint8Array(4096), { fua: false })).rejects.toMatchObject({ code: 'no-space', hint: expect.stringContaining('secondary lags') });
    expect(limits).toEqual(['log-full']);
  });

  it('fillPolicy block: the write waits for room and is taken when the log has it', async () => {
    const limits: string[] = [];
    const device = new ReplicatedBlockDevice(fake([logFull, logFull, logFull, { kind: 'ok', id: 1, seq: 1 as never }], 'block'), (limit) => limits.push(limit), 10_000);
    await device.write(0, new Uint8Array(4096), { fua: false });
    expect(limits).toEqual(['log-full']);
  });

  it('fillPolicy block: past its wait the write gets ENOSPC, never a success', async () => {
    const device = new ReplicatedBlockDevice(fake(Array.from({ length: 100 }, () => logFull), 'block'), () => undefined, 50);
    const started = Date.now();
    await expect(device.write(0, new Uint8Array(4096), { fua: false })).rejects.toMatchObject({ code: 'no-space' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });

  it('fillPolicy trackChanges (not in the core yet): waits like block rather than failing at once', async () => {
    const device = new ReplicatedBlockDevice(fake([logFull, { kind: 'ok', id: 1, seq: 1 as never }], 'trackChanges'), () => undefined, 10_000);
    await device.write(0, new Uint8Array(4096), { fua: false });
  });
});
