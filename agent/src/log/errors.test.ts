// LogError: stable codes with a hint each, recognisable without instanceof, causes kept.
import { BunkerError } from '@bunker/proto/bunker-error';
import { ioError, LogError, type LogErrorCode } from './errors.js';

const codes: LogErrorCode[] = ['LogFull', 'Corrupt', 'StaleEpoch', 'SequenceGap', 'WrongVolume', 'TooLarge', 'Closed', 'Io', 'Trimmed', 'Busy'];

describe('LogError', () => {
  it.each(codes)('%s carries its code and a default hint', (code) => {
    const error = new LogError(code, 'message');
    expect(error).toBeInstanceOf(BunkerError);
    expect(BunkerError.is(error)).toBe(true);
    expect(error.code).toBe(code);
    expect(error.hint.length).toBeGreaterThan(10);
    expect(error.name).toBe('LogError');
    expect(LogError.hasCode(error, code)).toBe(true);
  });

  it('keeps a given hint and cause', () => {
    const cause = new Error('EIO');
    const error = new LogError('Io', 'write failed', { hint: 'replace the disk', cause });
    expect(error.hint).toBe('replace the disk');
    expect(error.cause).toBe(cause);
  });

  it('tells codes apart without reading messages', () => {
    expect(LogError.hasCode(new LogError('Corrupt', 'LogFull'), 'LogFull')).toBe(false);
    expect(LogError.hasCode(new Error('Corrupt'), 'Corrupt')).toBe(false);
  });

  it('wraps foreign errors as Io and keeps LogErrors as they are', () => {
    const original = new LogError('WrongVolume', 'not ours');
    expect(ioError('opening', original)).toBe(original);
    const wrapped = ioError('reading', Object.assign(new Error('boom'), { code: 'EIO' }));
    expect(wrapped).toMatchObject({ code: 'Io', message: 'reading failed', cause: { code: 'EIO' } });
  });
});
