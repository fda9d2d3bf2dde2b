// Fuzzes the validation of what arrives over gRPC: the replication messages (LogBatch, LogAck,
// FetchRequest, FetchBlock via links/wire-codec.ts) and the operator's ConfigureRequest (via
// server/intent-from-request.ts). Messages start valid (built by the codec's own encoders, or a
// well-formed request) and get hostile values: numbers past 2^53, negative, fractional, NaN;
// offsets past the volume's end; payloads that disagree with the length or exceed the limit;
// unknown enum values; wrong CRCs; empty and malformed strings. Some go through the generated
// protobuf encoder and decoder (ts-proto, forceLong=number) with flipped bytes on the way.
// Properties: a decoder either returns a well-formed value or throws its typed BunkerError
// (WireError InvalidArgument / Corrupt, InvalidRequestError InvalidArgument), never anything
// untyped; sequences and epochs pass through exactly (gaps and stale epochs are the core's to
// judge, not the codec's); valid messages round-trip.
import fc from 'fast-check';
import { BunkerError } from '@bunker/proto/bunker-error';
import {
  ConfigureRequest, EntryKind, FillPolicy, LogBatch, RecoveryMode, Role, SecondaryMode, type FetchBlock, type LogEntry,
} from '@bunker/proto';
import { epoch as toEpoch, seq as toSeq } from '@bunker/proto/ids';
import type { Entry, EntryKind as CoreEntryKind } from '../../agent/src/log/entry.js';
import {
  ackFromWire, appendFromWire, batchToWire, entryToWire, fetchBlockFromWire, fetchRequestFromWire, shipFromWire, wireEntryCrc,
  type EntryLimits,
} from '../../agent/src/links/wire-codec.js';
import type { AppendMessage } from '../../agent/src/replication/index.js';
import { recordFromRequest } from '../../agent/src/server/intent-from-request.js';
import { fuzzBudget } from './fuzz-budget.js';

const LIMITS: EntryLimits = { volumeBytes: 1 << 24, entryBytesMax: 64 * 1024 };

/** Numbers a hostile or broken peer could put in a u64 field, and some no decoder produces. */
const hostileNumber = fc.oneof(
  { weight: 6, arbitrary: fc.nat(1000) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, LIMITS.volumeBytes, LIMITS.volumeBytes + 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER) },
  { weight: 2, arbitrary: fc.constantFrom(-1, 2 ** 53, 2 ** 64, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -0) },
  { weight: 1, arbitrary: fc.double() },
);
/** The same, limited to what a decoded uint64 field can hold (ts-proto refuses above 2^53 - 1). */
const wireU64 = fc.oneof(
  { weight: 6, arbitrary: fc.nat(1000) },
  { weight: 2, arbitrary: fc.constantFrom(0, LIMITS.volumeBytes, LIMITS.volumeBytes + 1, 2 ** 32, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.maxSafeNat() },
);

const coreKind = fc.constantFrom<CoreEntryKind>('write', 'trim', 'zero', 'flush');

/** A valid entry inside LIMITS. */
const validEntry: fc.Arbitrary<Entry> = fc
  .record({ epoch: fc.nat(50), seq: fc.nat(10_000), block: fc.nat(LIMITS.volumeBytes / 4096 - 16), blocks: fc.integer({ min: 0, max: 4 }), kind: coreKind })
  .map(({ epoch, seq, block, blocks, kind }) => {
    const length = kind === 'flush' ? 0 : blocks * 512;
    return {
      epoch: toEpoch(epoch), seq: toSeq(seq), offset: kind === 'flush' ? 0 : block * 4096, length, kind,
      payload: kind === 'write' ? Uint8Array.from({ length }, (_, index) => (index * 31 + seq) & 0xff) : new Uint8Array(0),
    };
  });

/** One hostile change to a wire entry (plain data, so a counterexample prints readably). */
type EntryMutation =
  | { readonly change: 'none' }
  | { readonly change: 'field'; readonly field: 'epoch' | 'seq' | 'offset' | 'length'; readonly value: number }
  | { readonly change: 'kind'; readonly kind: number }
  | { readonly change: 'crc'; readonly crc: number }
  | { readonly change: 'payload'; readonly bytes: number }
  /** Past the end, but with a CRC that matches: only the range check can refuse it. */
  | { readonly change: 'past-end'; readonly delta: number };

const entryMutation: fc.Arbitrary<EntryMutation> = fc.oneof(
  fc.constant({ change: 'none' as const }),
  fc.record({ change: fc.constant('field' as const), field: fc.constantFrom('epoch', 'seq', 'offset', 'length'), value: hostileNumber }),
  fc.record({ change: fc.constant('kind' as const), kind: fc.integer({ min: -2, max: 9 }) }),
  fc.record({ change: fc.constant('crc' as const), crc: fc.nat(0xffff_ffff) }),
  fc.record({ change: fc.constant('payload' as const), bytes: fc.oneof(fc.nat(64), fc.constant(LIMITS.entryBytesMax + 512)) }),
  fc.record({ change: fc.constant('past-end' as const), delta: fc.integer({ min: -4096, max: 4096 }) }),
);

function mutateEntry(entry: LogEntry, mutation: EntryMutation): LogEntry {
  switch (mutation.change) {
    case 'none': return entry;
    case 'field': return { ...entry, [mutation.field]: mutation.value };
    case 'kind': return { ...entry, kind: mutation.kind as EntryKind };
    case 'crc': return { ...entry, crc32c: mutation.crc };
    case 'payload': return { ...entry, payload: Buffer.alloc(mutation.bytes, 7) };
    case 'past-end': {
      const offset = Math.max(0, LIMITS.volumeBytes - entry.length + mutation.delta);
      return { ...entry, offset, crc32c: crcOfWire({ ...entry, offset }) };
    }
  }
}

function crcOfWire(entry: LogEntry): number {
  const kinds: Partial<Record<EntryKind, CoreEntryKind>> = {
    [EntryKind.ENTRY_KIND_WRITE]: 'write', [EntryKind.ENTRY_KIND_TRIM]: 'trim', [EntryKind.ENTRY_KIND_ZERO]: 'zero', [EntryKind.ENTRY_KIND_FLUSH]: 'flush',
  };
  const kind = kinds[entry.kind] ?? 'write';
  return wireEntryCrc({ ...entry, kind });
}

/** Runs a decoder; returns its value, or undefined after checking the throw is typed. */
function typedOutcome<T>(decode: () => T, codes: readonly string[]): T | undefined {
  try {
    return decode();
  } catch (error) {
    if (!BunkerError.is(error)) throw new Error(`untyped throw: ${String(error)}`, { cause: error });
    expect(codes).toContain(error.code);
    return undefined;
  }
}

const isWireNumber = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;

/** What every accepted entry must be: in range, consistent, and exactly what was sent. */
function checkEntry(entry: Entry, wire: LogEntry): void {
  for (const value of [entry.epoch, entry.seq, entry.offset, entry.length]) expect(isWireNumber(value)).toBe(true);
  expect(entry.offset + entry.length).toBeLessThanOrEqual(LIMITS.volumeBytes);
  // `===`, not Object.is: a -0 length (which no protobuf decoder produces) means 0.
  expect(entry.payload.length === (entry.kind === 'write' ? entry.length : 0)).toBe(true);
  expect(entry.payload.length).toBeLessThanOrEqual(LIMITS.entryBytesMax);
  expect(wireEntryCrc(entry)).toBe(wire.crc32c >>> 0);
  expect([entry.epoch, entry.seq, entry.offset, entry.length]).toEqual([wire.epoch, wire.seq, wire.offset, wire.length]);
}

const batchFields = fc.record({
  epoch: hostileNumber, session: hostileNumber, trimSeq: hostileNumber, primaryAppliedSeq: hostileNumber, commitSeq: hostileNumber,
  truncateAfterSeq: fc.option(hostileNumber, { nil: undefined }),
});

const hostileBatch: fc.Arbitrary<LogBatch> = fc
  .tuple(fc.array(fc.tuple(validEntry, entryMutation), { maxLength: 5 }), batchFields, fc.boolean(), fc.string({ maxLength: 8 }))
  .map(([entries, fields, hello, volume]) => ({
    volume, fromNode: volume, hello, ...fields, entries: entries.map(([entry, mutation]) => mutateEntry(entryToWire(entry), mutation)),
  }));

describe('wire codec under hostile replication messages', () => {
  const budget = fuzzBudget(1000);
  it('accepts only well-formed batches and refuses the rest with WireError', () => {
    fc.assert(
      fc.property(hostileBatch, (batch) => {
        const append = typedOutcome(() => appendFromWire(batch, LIMITS), ['InvalidArgument', 'Corrupt']);
        const ship = typedOutcome(() => shipFromWire(batch, LIMITS), ['InvalidArgument', 'Corrupt']);
        for (const message of [append, ship]) {
          if (message === undefined) continue;
          expect(message.epoch).toBe(batch.epoch);
          expect(isWireNumber(message.epoch) && isWireNumber(message.session)).toBe(true);
          expect(message.entries.length).toBe(batch.entries.length);
          message.entries.forEach((entry, index) => checkEntry(entry, batch.entries[index] as LogEntry));
        }
        if (append !== undefined) {
          expect([append.trimSeq, append.primaryAppliedSeq].every(isWireNumber)).toBe(true);
          expect(append.truncateAfterSeq).toBe(batch.truncateAfterSeq ?? null);
        }
        if (ship !== undefined) expect(ship.commitSeq).toBe(batch.commitSeq);
      }),
      budget.parameters,
    );
  }, budget.timeoutMs);

  const otherBudget = fuzzBudget(1000);
  it('does the same for acks, fetch requests and fetch blocks', () => {
    const ack = fc.record({
      volume: fc.string({ maxLength: 4 }), epoch: hostileNumber, session: hostileNumber, hello: fc.boolean(), durableSeq: hostileNumber,
      appliedSeq: hostileNumber, staleEpoch: fc.boolean(),
    });
    const fetchRequest = fc.record({
      volume: fc.string({ maxLength: 4 }), fromNode: fc.string({ maxLength: 4 }), epoch: hostileNumber, afterSeq: hostileNumber,
      maxBytes: hostileNumber, maxEntries: hostileNumber,
    });
    const fetchBlock = fc.tuple(hostileBatch, fc.record({ afterSeq: hostileNumber, bunkerDurableSeq: hostileNumber, bunkerFirstSeq: hostileNumber }))
      .map(([batch, fields]): FetchBlock => ({
        epoch: batch.epoch, entries: batch.entries, primaryAppliedSeq: batch.primaryAppliedSeq, staleEpoch: false, ...fields,
      }));
    fc.assert(
      fc.property(ack, fc.constantFrom('append', 'ship' as const), fetchRequest, fetchBlock, (wireAck, stream, request, block) => {
        const decodedAck = typedOutcome(() => ackFromWire(wireAck, stream), ['InvalidArgument']);
        if (decodedAck !== undefined) {
          expect([decodedAck.epoch, decodedAck.session, decodedAck.durableSeq].every(isWireNumber)).toBe(true);
          expect(decodedAck.durableSeq).toBe(wireAck.durableSeq);
          if (decodedAck.kind === 'ship-ack') expect(decodedAck.appliedSeq).toBe(wireAck.appliedSeq);
        }
        const decodedRequest = typedOutcome(() => fetchRequestFromWire(request), ['InvalidArgument']);
        if (decodedRequest !== undefined) {
          expect([decodedRequest.epoch, decodedRequest.afterSeq, decodedRequest.maxBytes, decodedRequest.maxEntries].every(isWireNumber)).toBe(true);
        }
        const decodedBlock = typedOutcome(() => fetchBlockFromWire(block, LIMITS), ['InvalidArgument', 'Corrupt']);
        if (decodedBlock !== undefined) {
          expect([decodedBlock.bunkerDurableSeq, decodedBlock.bunkerFirstSeq, decodedBlock.primaryAppliedSeq].every(isWireNumber)).toBe(true);
          decodedBlock.entries.forEach((entry, index) => checkEntry(entry, block.entries[index] as LogEntry));
        }
      }),
      otherBudget.parameters,
    );
  }, otherBudget.timeoutMs);

  const protobufBudget = fuzzBudget(1000);
  it('round-trips valid appends through protobuf, and refuses flipped bytes in a typed way', () => {
    const append: fc.Arbitrary<AppendMessage> = fc
      .record({
        epoch: fc.nat(100), session: fc.maxSafeNat(), hello: fc.boolean(), truncateAfterSeq: fc.option(wireU64),
        entries: fc.array(validEntry, { maxLength: 4 }), trimSeq: wireU64, primaryAppliedSeq: wireU64,
      })
      .map((fields) => ({
        kind: 'append', ...fields, epoch: toEpoch(fields.epoch), trimSeq: toSeq(fields.trimSeq), primaryAppliedSeq: toSeq(fields.primaryAppliedSeq),
        truncateAfterSeq: fields.truncateAfterSeq === null ? null : toSeq(fields.truncateAfterSeq),
      }));
    const flips = fc.array(fc.tuple(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 })), { maxLength: 3 });
    fc.assert(
      fc.property(append, flips, (message, flipList) => {
        const bytes = LogBatch.encode(batchToWire('ns/vol', 'node-a', message)).finish();
        if (flipList.length === 0) {
          const decoded = appendFromWire(LogBatch.decode(bytes), LIMITS);
          expect({ ...decoded, entries: decoded.entries.map((entry) => ({ ...entry, payload: Buffer.from(entry.payload) })) })
            .toEqual({ ...message, entries: message.entries.map((entry) => ({ ...entry, payload: Buffer.from(entry.payload) })) });
          return;
        }
        const damaged = Uint8Array.from(bytes);
        for (const [at, mask] of flipList) {
      const index = Math.floor(at * damaged.length);
      if (index < damaged.length) damaged[index] = (damaged[index] ?? 0) ^ mask;
    }
        let batch: LogBatch;
        try {
          batch = LogBatch.decode(damaged);
        } catch {
          // Refused by the generated decoder, which grpc-js turns into an INTERNAL status
          // before any handler runs: the codec never sees it.
          return;
        }
        const decoded = typedOutcome(() => appendFromWire(batch, LIMITS), ['InvalidArgument', 'Corrupt']);
        decoded?.entries.forEach((entry, index) => checkEntry(entry, batch.entries[index] as LogEntry));
      }),
      protobufBudget.parameters,
    );
  }, protobufBudget.timeoutMs);
});

// ---- ConfigureRequest ----

const VALID_REQUEST: ConfigureRequest = {
  volume: 'default/demo', epoch: 3, role: Role.ROLE_PRIMARY, sizeBytes: 256 * 1024 * 1024, logBytes: 64 * 1024 * 1024,
  recovery: RecoveryMode.RECOVERY_MODE_SYNC, secondary: SecondaryMode.SECONDARY_MODE_ASYNC, fillPolicy: FillPolicy.FILL_POLICY_TRACK_CHANGES,
  primary: { node: 'site-a', address: 'site-a.bunker:7100' }, bunker: { node: 'site-b', address: '10.0.0.2:7100' },
  secondaryPeer: { node: 'site-c', address: 'site-c:7100' }, changeMapRegionBytes: 0,
  volumeUid: '5f0c2a1e-9b7d-4c3a-8e21-0d4b6f7a9c10', clearChangeMap: false,
};

const hostileString = fc.oneof(
  fc.constantFrom('', ' ', 'default/demo', 'Default/Demo', 'a/b/c', '/demo', 'default/', 'x:1', 'host:99999', 'host:0', ':7100', 'h o:1',
    '5F0C2A1E-9B7D-4C3A-8E21-0D4B6F7A9C10', '5f0c2a1e9b7d4c3a8e210d4b6f7a9c10', 'a'.repeat(300) + '/b'),
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
const hostilePeer = fc.oneof(
  fc.constant(undefined),
  fc.record({ node: fc.oneof(fc.constantFrom('', 'site-a', 'site-b', 'site-d'), hostileString), address: hostileString }),
);
const enumValue = fc.oneof(fc.integer({ min: -1, max: 5 }), fc.integer());

/** One hostile field value (plain data, so a counterexample prints readably). */
interface RequestMutation {
  readonly field: keyof ConfigureRequest;
  readonly value: unknown;
}

const requestMutation: fc.Arbitrary<RequestMutation> = fc.oneof(
  fc.record({ field: fc.constantFrom('volume' as const, 'volumeUid' as const), value: hostileString }),
  fc.record({
    field: fc.constantFrom('epoch' as const, 'sizeBytes' as const, 'logBytes' as const, 'changeMapRegionBytes' as const),
    value: fc.oneof(hostileNumber, fc.constantFrom(4095, 4096, 4 * 1024 * 1024, 4 * 1024 * 1024 - 4096)),
  }),
  fc.record({ field: fc.constantFrom('role' as const, 'recovery' as const, 'secondary' as const, 'fillPolicy' as const), value: enumValue }),
  fc.record({ field: fc.constantFrom('primary' as const, 'bunker' as const, 'secondaryPeer' as const), value: hostilePeer }),
);

/** The hostile values are of the field's wire type (string, number, enum, Peer | undefined). */
const applyMutations = (mutations: readonly RequestMutation[]): ConfigureRequest =>
  mutations.reduce<ConfigureRequest>((request, { field, value }) => ({ ...request, [field]: value }), VALID_REQUEST);

const ADDRESS = /^[^\s:]+:(\d{1,5})$/;

describe('ConfigureRequest validation under hostile values', () => {
  const budget = fuzzBudget(1000);
  it('turns a request into a well-formed record and intent, or refuses it with InvalidArgument', () => {
    fc.assert(
      fc.property(fc.array(requestMutation, { minLength: 0, maxLength: 3 }), fc.boolean(), (mutations, viaProtobuf) => {
        const mutated = applyMutations(mutations);
        let request = mutated;
        if (viaProtobuf) {
          try {
            request = ConfigureRequest.decode(ConfigureRequest.encode(mutated).finish());
          } catch {
            return; // not encodable (a NaN or a fraction in a uint64): no peer can send it
          }
        }
        const result = typedOutcome(() => recordFromRequest(request), ['InvalidArgument']);
        if (mutations.length === 0) expect(result).toBeDefined();
        if (result === undefined) return;
        const { record, intent } = result;
        expect(record.shape.volume).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        expect(record.shape.volumeUid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        for (const [value, minimum] of [[record.shape.sizeBytes, 4096], [record.shape.logBytes, 4 * 1024 * 1024], [record.shape.regionBytes, 4096]] as const) {
          expect(Number.isSafeInteger(value) && value >= minimum && value % 4096 === 0).toBe(true);
        }
        expect(['trackChanges', 'block', 'fail']).toContain(record.shape.fillPolicy);
        expect(['primary', 'bunker', 'secondary', 'none']).toContain(intent.role);
        expect(Number.isSafeInteger(intent.epoch) && intent.epoch >= 1).toBe(true);
        expect(['sync', 'none']).toContain(intent.modes.recovery);
        expect(['sync', 'async']).toContain(intent.modes.secondary);
        for (const peer of [intent.primary, intent.bunker, intent.secondary]) {
          if (peer === null) continue;
          expect(peer).not.toBe('');
          // Every peer the intent names has an address a gRPC client can dial.
          const port = Number(ADDRESS.exec(record.addresses[peer] ?? '')?.[1] ?? Number.NaN);
          expect(port >= 1 && port <= 65535).toBe(true);
        }
      }),
      budget.parameters,
    );
  }, budget.timeoutMs);
});
