import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_POLL_MS, injectedFaults, parseFaultPlan } from './injected-faults.js';

describe('fault plans', () => {
  it('parses rules and refuses what it does not know, naming the field', () => {
    expect(parseFaultPlan('{"data":{"errno":"EIO","ops":["write"]},"log":{"delayMs":50}}')).toEqual({ data: { errno: 'EIO', ops: ['write'] }, log: { delayMs: 50 } });
    expect(parseFaultPlan('')).toEqual({});
    expect(() => parseFaultPlan('{"disk":{}}')).toThrow(/unknown fault target "disk"/);
    expect(() => parseFaultPlan('{"data":{"errno":"EPERM"}}')).toThrow(/data.errno/);
    expect(() => parseFaultPlan('{"log":{"ops":["fsync"]}}')).toThrow(/log.ops/);
    expect(() => parseFaultPlan('{"log":{"delayMs":-1}}')).toThrow(/log.delayMs/);
  });
});

describe('the fault injector', () => {
  let dir: string;
  afterEach(async () => {
    injectedFaults.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('does nothing until it follows a file, then fails and delays as the file says, and follows its changes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bunker-faults-'));
    const path = join(dir, 'faults.json');
    await expect(injectedFaults.before('data', 'write')).resolves.toBeUndefined();
    await writeFile(path, '{"data":{"errno":"EIO","ops":["write"]},"log":{"delayMs":120}}');
    injectedFaults.follow(path, () => undefined, () => undefined);
    await new Promise((resolve) => setTimeout(resolve, FAULT_POLL_MS * 3));
    await expect(injectedFaults.before('data', 'write')).rejects.toMatchObject({ code: 'EIO', syscall: 'pwrite' });
    await expect(injectedFaults.before('data', 'read')).resolves.toBeUndefined();
    const started = Date.now();
    await injectedFaults.before('log', 'sync');
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    await writeFile(path, '{}');
    await new Promise((resolve) => setTimeout(resolve, FAULT_POLL_MS * 3));
    await expect(injectedFaults.before('data', 'write')).resolves.toBeUndefined();
  });
});
