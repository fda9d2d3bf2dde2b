// Fuzzes the pure NBD parsers (request-parser.ts, handshake.ts) with hostile values: random
// and mutated headers, lengths and offsets up to 2^32 / 2^64, unknown commands, options and
// flags, truncated input, garbage option data. Properties: no parser throws on client input;
// every verdict is one of the typed values; a request the server will serve lies inside the
// export, is aligned, and buffers at most `maximumPayloadBytes`; anything larger is refused
// or discarded, never read into memory; every option answer is well framed.
import fc from 'fast-check';
import {
  OPTION_DATA_BYTES_MAX, answerOption, parseClientFlags, parseOption, parseOptionHeader, type ExportView, type OptionRequest,
} from '../../agent/src/nbd/handshake.js';
import {
  MINIMUM_BLOCK_BYTES_MAX, NBD_CMD_WRITE, NBD_OPTION_MAGIC, NBD_OPTION_REPLY_MAGIC, NBD_OPT_EXPORT_NAME, NBD_OPT_GO, NBD_OPT_INFO,
  NBD_REQUEST_MAGIC, OPTION_REPLY_HEADER_BYTES, PAYLOAD_TOLERATED_BYTES, REQUEST_HEADER_BYTES,
} from '../../agent/src/nbd/protocol-constants.js';
import { parseRequest, type ExportLimits, type RequestHeader, type RequestVerdict } from '../../agent/src/nbd/request-parser.js';
import { fuzzBudget } from './fuzz-budget.js';

const U64_MAX = (1n << 64n) - 1n;

/** Export limits as a BlockDevice may declare them: power-of-two blocks, safe sizes. */
const exportLimits: fc.Arbitrary<ExportLimits> = fc
  .record({
    blockShift: fc.integer({ min: 0, max: 16 }),
    blocks: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0, max: Math.floor(Number.MAX_SAFE_INTEGER / MINIMUM_BLOCK_BYTES_MAX) })),
    payloadBlocks: fc.integer({ min: 1, max: 1024 }),
    readOnly: fc.boolean(),
  })
  .map(({ blockShift, blocks, payloadBlocks, readOnly }) => ({
    sizeBytes: blocks * 2 ** blockShift,
    minimumBlockBytes: 2 ** blockShift,
    maximumPayloadBytes: Math.min(payloadBlocks * 2 ** blockShift, 1 << 26),
    readOnly,
  }));

/** Values that sit on every boundary the parser checks, plus anything at all. */
function hostileLength(limits: ExportLimits): fc.Arbitrary<number> {
  const edges = [0, 1, limits.minimumBlockBytes, limits.maximumPayloadBytes, limits.maximumPayloadBytes + 1, PAYLOAD_TOLERATED_BYTES,
    PAYLOAD_TOLERATED_BYTES + 1, 0xffff_ffff, Math.min(limits.sizeBytes, 0xffff_ffff)];
  return fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 0, max: 0xffff_ffff }));
}

function hostileOffset(limits: ExportLimits): fc.Arbitrary<bigint> {
  const size = BigInt(limits.sizeBytes);
  const edges = [0n, size, size - 1n, size + 1n, size - BigInt(limits.minimumBlockBytes), 1n << 53n, 1n << 63n, U64_MAX]
    .filter((value) => value >= 0n && value <= U64_MAX);
  return fc.oneof(fc.constantFrom(...edges), fc.bigInt({ min: 0n, max: U64_MAX }));
}

const header = (limits: ExportLimits): fc.Arbitrary<RequestHeader> => fc.record({
  flags: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xffff })),
  type: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffff })),
  cookie: fc.bigInt({ min: 0n, max: U64_MAX }),
  offset: hostileOffset(limits),
  length: hostileLength(limits),
});

function encodeHeader(fields: RequestHeader, magic: number): Uint8Array {
  const bytes = new Uint8Array(REQUEST_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic);
  view.setUint16(4, fields.flags);
  view.setUint16(6, fields.type);
  view.setBigUint64(8, fields.cookie);
  view.setBigUint64(16, fields.offset);
  view.setUint32(24, fields.length);
  return bytes;
}

/** The invariants every verdict must keep, whatever the header said. */
function checkVerdict(fields: RequestHeader, limits: ExportLimits, verdict: RequestVerdict): void {
  switch (verdict.kind) {
    case 'serve': {
      const request = verdict.request;
      if (request.kind === 'disconnect' || request.kind === 'flush') return;
      expect(Number.isSafeInteger(request.offset)).toBe(true);
      expect(request.offset + request.length).toBeLessThanOrEqual(limits.sizeBytes);
      expect(request.offset % limits.minimumBlockBytes).toBe(0);
      expect(request.length % limits.minimumBlockBytes).toBe(0);
      expect(BigInt(request.offset)).toBe(fields.offset);
      expect(request.length).toBe(fields.length);
      // What the connection reads into memory for this request.
      if (request.kind === 'read' || request.kind === 'write') expect(request.length).toBeLessThanOrEqual(limits.maximumPayloadBytes);
      if (request.kind !== 'read') expect(limits.readOnly).toBe(false);
      return;
    }
    case 'reject':
      expect(verdict.cookie).toBe(fields.cookie);
      // Discarded in bounded pieces (SocketReader.skip), and only a write carries a payload.
      expect(verdict.discardBytes).toBe(fields.type === NBD_CMD_WRITE ? fields.length : 0);
      expect(verdict.discardBytes).toBeLessThanOrEqual(Math.max(limits.maximumPayloadBytes, PAYLOAD_TOLERATED_BYTES));
      return;
    case 'protocol-error':
      expect(verdict.reason).toBe('payload-too-large');
      expect(fields.type).toBe(NBD_CMD_WRITE);
      expect(fields.length).toBeGreaterThan(Math.max(limits.maximumPayloadBytes, PAYLOAD_TOLERATED_BYTES));
      return;
  }
}

describe('NBD request parser under hostile headers', () => {
  const budget = fuzzBudget(2000);
  it('serves only in-range, aligned, bounded requests and refuses the rest with a typed verdict', () => {
    fc.assert(
      fc.property(exportLimits.chain((limits) => fc.tuple(fc.constant(limits), header(limits))), ([limits, fields]) => {
        const verdict = parseRequest(encodeHeader(fields, NBD_REQUEST_MAGIC), limits);
        if (verdict.kind === 'short-input') throw new Error('a full header parsed as short input');
        checkVerdict(fields, limits, verdict);
      }),
      budget.parameters,
    );
  }, budget.timeoutMs);

  const bytesBudget = fuzzBudget(2000);
  it('answers any byte string (random, truncated or with a flipped magic) with a typed verdict', () => {
    const mutated = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.tuple(exportLimits.chain(header), fc.integer({ min: 0, max: REQUEST_HEADER_BYTES }), fc.nat(0xffff_ffff))
        .map(([fields, cut, magic]) => encodeHeader(fields, magic % 3 === 0 ? NBD_REQUEST_MAGIC : magic).subarray(0, cut)),
    );
    fc.assert(
      fc.property(exportLimits, mutated, (limits, bytes) => {
        const verdict = parseRequest(bytes, limits);
        if (bytes.length < REQUEST_HEADER_BYTES) {
          expect(verdict).toEqual({ kind: 'short-input' });
          return;
        }
        const magic = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
        if (magic !== NBD_REQUEST_MAGIC) expect(verdict).toEqual({ kind: 'protocol-error', reason: 'bad-magic' });
        else expect(['serve', 'reject', 'protocol-error']).toContain(verdict.kind);
      }),
      bytesBudget.parameters,
    );
  }, bytesBudget.timeoutMs);
});

const exportView: ExportView = {
  name: 'vol', description: 'fuzz', sizeBytes: 1 << 20, transmissionFlags: 1, minimumBlockBytes: 512, preferredBlockBytes: 4096,
  maximumPayloadBytes: 1 << 16,
};

/** GO/INFO data with a declared name length that may lie, and any information list. */
const infoData = fc
  .record({
    name: fc.oneof(fc.constant('vol'), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 })),
    declaredExtra: fc.oneof(fc.constant(0), fc.integer({ min: -4, max: 4 }), fc.nat(0xffff_ffff)),
    infoTypes: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }),
    declaredCount: fc.option(fc.integer({ min: 0, max: 0xffff })),
    tail: fc.uint8Array({ maxLength: 4 }),
  })
  .map(({ name, declaredExtra, infoTypes, declaredCount, tail }) => {
    const nameBytes = new TextEncoder().encode(name);
    const bytes = new Uint8Array(4 + nameBytes.length + 2 + 2 * infoTypes.length + tail.length);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, (nameBytes.length + declaredExtra) >>> 0);
    bytes.set(nameBytes, 4);
    view.setUint16(4 + nameBytes.length, declaredCount ?? infoTypes.length);
    infoTypes.forEach((type, index) => view.setUint16(6 + nameBytes.length + 2 * index, type));
    bytes.set(tail, 6 + nameBytes.length + 2 * infoTypes.length);
    return bytes;
  });

const optionType = fc.oneof(fc.integer({ min: 0, max: 12 }), fc.nat(0xffff_ffff));

/** Checks each reply is an option reply whose declared length matches its bytes. */
function checkReplies(request: OptionRequest, replies: readonly Uint8Array[]): void {
  for (const reply of replies) {
    if (request.kind === 'export-name') {
      // NBD_OPT_EXPORT_NAME's reply has no header: size, flags and optional zero padding.
      expect([10, 134]).toContain(reply.length);
      continue;
    }
    expect(reply.length).toBeGreaterThanOrEqual(OPTION_REPLY_HEADER_BYTES);
    const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
    expect(view.getBigUint64(0)).toBe(NBD_OPTION_REPLY_MAGIC);
    expect(view.getUint32(16)).toBe(reply.length - OPTION_REPLY_HEADER_BYTES);
  }
}

describe('NBD handshake parsers under garbage options', () => {
  const budget = fuzzBudget(2000);
  it('parses any client flags, option header and option data into typed values and well-framed answers', () => {
    const data = fc.oneof(fc.uint8Array({ maxLength: 64 }), infoData, fc.uint8Array({ minLength: 4090, maxLength: 4200 }));
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 20 }), optionType, data, fc.boolean(), fc.boolean(),
        (flagBytes, headerBytes, option, optionData, shuttingDown, knownMagic) => {
          const flags = parseClientFlags(flagBytes);
          if (flags.kind === 'error') expect(['short-input', 'unknown-client-flags']).toContain(flags.reason);
          const head = headerBytes.slice();
          if (knownMagic && head.length >= 8) new DataView(head.buffer).setBigUint64(0, NBD_OPTION_MAGIC);
          const parsedHeader = parseOptionHeader(head);
          if (parsedHeader.kind === 'ok') expect(parsedHeader.value.dataBytes).toBeLessThanOrEqual(0xffff_ffff);
          else expect(['short-input', 'bad-option-magic']).toContain(parsedHeader.reason);
          const request = parseOption(option, optionData);
          if (request.kind === 'go' || request.kind === 'info') {
            expect(request.option === NBD_OPT_GO || request.option === NBD_OPT_INFO).toBe(true);
          }
          const answer = answerOption(request, {
            clientFlags: flags.kind === 'ok' ? flags.value : { fixedNewstyle: true, noZeroes: false },
            shuttingDown,
            lookup: (name) => (name === exportView.name ? exportView : undefined),
            list: () => [exportView],
          });
          checkReplies(request, answer.replies);
          if (answer.outcome.kind === 'transmit') {
            expect(shuttingDown).toBe(false);
            expect(request.kind === 'go' || request.kind === 'export-name').toBe(true);
          }
          if (option === NBD_OPT_EXPORT_NAME && request.kind !== 'export-name') expect(answer.outcome.kind).toBe('close');
        },
      ),
      budget.parameters,
    );
  }, budget.timeoutMs);

  const tooBigBudget = fuzzBudget(500);
  it('never asks to buffer more than OPTION_DATA_BYTES_MAX of an option (larger ones are refused TOO_BIG)', () => {
    fc.assert(
      fc.property(optionType, fc.integer({ min: OPTION_DATA_BYTES_MAX + 1, max: 0xffff_ffff }), (option, dataBytes) => {
        const head = new Uint8Array(16);
        const view = new DataView(head.buffer);
        view.setBigUint64(0, NBD_OPTION_MAGIC);
        view.setUint32(8, option);
        view.setUint32(12, dataBytes);
        const parsed = parseOptionHeader(head);
        expect(parsed).toEqual({ kind: 'ok', value: { option, dataBytes } });
        const answer = answerOption({ kind: 'too-big', option }, {
          clientFlags: { fixedNewstyle: true, noZeroes: true }, shuttingDown: false, lookup: () => undefined, list: () => [],
        });
        expect(answer.outcome.kind).toBe(option === NBD_OPT_EXPORT_NAME ? 'close' : 'continue');
        checkReplies({ kind: 'too-big', option }, answer.replies);
      }),
      tooBigBudget.parameters,
    );
  }, tooBigBudget.timeoutMs);
});
