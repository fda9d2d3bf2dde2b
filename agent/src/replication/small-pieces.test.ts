// Method: examples for the small pure helpers: intent comparison, request validation, default
// limits and the exhaustiveness guard.
import { epoch, nodeName } from '@bunker/proto/ids';
import { AssertionError, unreachable } from './assert.js';
import { NO_BUGS, defaultLimits } from './config.js';
import { DEFAULT_MODES, sameIntent, type Intent } from './intent.js';
import { validateRequest } from './request-validation.js';

const base: Intent = { role: 'primary', epoch: epoch(1), modes: DEFAULT_MODES, primary: null, bunker: nodeName('b'), secondary: null };

describe('sameIntent', () => {
  it('compares what the operator controls', () => {
    expect(sameIntent(base, { ...base })).toBe(true);
    expect(sameIntent(base, { ...base, epoch: epoch(2) })).toBe(false);
    expect(sameIntent(base, { ...base, modes: { ...DEFAULT_MODES, secondary: 'sync' } })).toBe(false);
    expect(sameIntent(base, { ...base, secondary: nodeName('c') })).toBe(false);
  });
});

describe('validateRequest', () => {
  const limits = defaultLimits(1 << 20, 4096);
  const request = (op: 'write' | 'trim' | 'flush', offset: number, length: number, payload = length) => ({
    id: 1,
    op,
    offset,
    length,
    payload: new Uint8Array(op === 'write' ? payload : 0),
    fua: false,
  });

  it.each([
    ['a misaligned offset', request('write', 100, 4096)],
    ['a zero length', request('trim', 0, 0)],
    ['a range past the end', request('trim', (1 << 20) - 4096, 8192)],
    ['a payload of the wrong size', request('write', 0, 4096, 512)],
    ['a negative offset', request('trim', -4096, 4096)],
  ])('refuses %s', (_name, req) => {
    expect(validateRequest(req, limits)).toMatchObject({ kind: 'InvalidRequest' });
  });

  it('refuses a request longer than one batch, and a trim that carries data', () => {
    expect(validateRequest(request('trim', 0, 8 * 1024 * 1024), defaultLimits(64 * 1024 * 1024))).toMatchObject({ kind: 'InvalidRequest' });
    expect(validateRequest({ ...request('trim', 0, 4096), payload: new Uint8Array(1) }, limits)).toMatchObject({ kind: 'InvalidRequest' });
  });

  it('accepts aligned requests and any flush', () => {
    expect(validateRequest(request('write', 4096, 8192), limits)).toBeNull();
    expect(validateRequest(request('flush', 7, 3), limits)).toBeNull();
  });
});

describe('config and assertions', () => {
  it('has no bug switched on by default', () => {
    expect(Object.values(NO_BUGS).every((on) => !on)).toBe(true);
    expect(defaultLimits(1 << 30).regionBytes).toBe(64 * 1024);
  });

  it('unreachable throws an assertion error', () => {
    expect(() => unreachable('x' as never, 'test')).toThrow(AssertionError);
  });
});
