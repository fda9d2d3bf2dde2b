import { LogBatch, LogEntry } from '@bunker/proto';
import { seededRandom } from '../log/seeded-random.js';
import { LOG_BATCH_FIELDS, LOG_ENTRY_FIELDS, serializeLogBatch } from './log-batch-encoder.js';

describe('serializeLogBatch', () => {
  it('knows every field of LogBatch and LogEntry (a new field must be added to the encoder)', () => {
    expect(Object.keys(LogBatch.fromPartial({})).sort()).toEqual([...LOG_BATCH_FIELDS].sort());
    expect(Object.keys(LogEntry.fromPartial({})).sort()).toEqual([...LOG_ENTRY_FIELDS].sort());
  });

  it('writes the same bytes as the generated encoder', () => {
    const random = seededRandom(7);
    const pick = (values: readonly number[]): number => values[Math.floor(random() * values.length)] ?? 0;
    const numbers = [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
    for (let round = 0; round < 300; round += 1) {
      const entries: LogEntry[] = Array.from({ length: Math.floor(random() * 4) }, () => {
        const size = pick([0, 1, 100, 127, 128, 4096, 20_000]);
        const payload = Buffer.alloc(size);
        for (let index = 0; index < size; index += 97) payload[index] = Math.floor(random() * 256);
        return {
          epoch: pick(numbers), seq: pick(numbers), offset: pick(numbers), length: pick(numbers.filter((n) => n < 2 ** 32)),
          kind: pick([0, 1, 2, 3, 4]), crc32c: pick(numbers.filter((n) => n < 2 ** 32)), payload,
        };
      });
      const batch: LogBatch = {
        volume: pick([0, 1]) === 0 ? '' : 'vol-é-1', fromNode: pick([0, 1]) === 0 ? '' : 'site-a', epoch: pick(numbers),
        session: pick(numbers), hello: random() < 0.5, entries,
        ...(random() < 0.5 ? {} : { truncateAfterSeq: pick(numbers) }),
        trimSeq: pick(numbers), primaryAppliedSeq: pick(numbers), commitSeq: pick(numbers),
      };
      const fast = serializeLogBatch(batch);
      expect(fast.equals(Buffer.from(LogBatch.encode(batch).finish()))).toBe(true);
      if (round % 50 === 0) expect(LogBatch.decode(fast)).toEqual(LogBatch.decode(LogBatch.encode(batch).finish()));
    }
  });

  it('leaves values it does not expect to the generated encoder', () => {
    const batch = LogBatch.fromPartial({ volume: 'v', epoch: 1 });
    expect(serializeLogBatch({ ...batch, epoch: 2 ** 53 }).equals(Buffer.from(LogBatch.encode({ ...batch, epoch: 2 ** 53 }).finish()))).toBe(true);
  });
});
