// Checks the pure handshake functions: exact greeting bytes, client-flag and option parsing
// (well-formed, malformed, unknown), and the reply each option gets, including the outcome
// (continue, transmit, close). Method: table cases from the spec's wording, then property tests
// that throw random bytes at every parser and require a typed result, never an exception.
import fc from 'fast-check';
import {
  OPTION_DATA_BYTES_MAX,
  answerOption,
  encodeGreeting,
  parseClientFlags,
  parseOption,
  parseOptionHeader,
  type ExportView,
  type NegotiationContext,
  type OptionRequest,
} from './handshake.js';
import {
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_OPTION_REPLY_MAGIC,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_SHUTDOWN,
  NBD_REP_ERR_TOO_BIG,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_SERVER,
} from './protocol-constants.js';

const volume: ExportView = {
  name: 'vol',
  description: 'a volume',
  sizeBytes: 1 << 20,
  transmissionFlags: 0x016d,
  minimumBlockBytes: 512,
  preferredBlockBytes: 4096,
  maximumPayloadBytes: 1 << 25,
};

function context(overrides: Partial<NegotiationContext<ExportView>> = {}): NegotiationContext<ExportView> {
  return {
    clientFlags: { fixedNewstyle: true, noZeroes: true },
    shuttingDown: false,
    lookup: (name) => (name === volume.name ? volume : undefined),
    list: () => [volume],
    ...overrides,
  };
}

function goData(name: string, infoTypes: readonly number[]): Uint8Array {
  const nameBytes = Buffer.from(name, 'utf8');
  const data = Buffer.alloc(6 + nameBytes.length + 2 * infoTypes.length);
  data.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(data, 4);
  data.writeUInt16BE(infoTypes.length, 4 + nameBytes.length);
  infoTypes.forEach((type, index) => data.writeUInt16BE(type, 6 + nameBytes.length + 2 * index));
  return data;
}

interface DecodedReply {
  magic: bigint;
  option: number;
  type: number;
  data: Buffer;
}

function decodeReply(bytes: Uint8Array): DecodedReply {
  const buffer = Buffer.from(bytes);
  const length = buffer.readUInt32BE(16);
  expect(buffer.length).toBe(20 + length);
  return { magic: buffer.readBigUInt64BE(0), option: buffer.readUInt32BE(8), type: buffer.readUInt32BE(12), data: buffer.subarray(20) };
}

describe('greeting and client flags', () => {
  it('greets with NBDMAGIC, IHAVEOPT and the FIXED_NEWSTYLE | NO_ZEROES handshake flags', () => {
    expect(Buffer.from(encodeGreeting()).toString('hex')).toBe('4e42444d41474943' + '49484156454f5054' + '0003');
  });

  it.each([
    [0, { fixedNewstyle: false, noZeroes: false }],
    [1, { fixedNewstyle: true, noZeroes: false }],
    [3, { fixedNewstyle: true, noZeroes: true }],
  ])('accepts client flags %i', (flags, expected) => {
    expect(parseClientFlags(Buffer.from([0, 0, 0, flags]))).toEqual({ kind: 'ok', value: expected });
  });

  it('rejects a client flag it does not know (the server MUST drop the connection)', () => {
    expect(parseClientFlags(Buffer.from([0, 0, 0, 4]))).toEqual({ kind: 'error', reason: 'unknown-client-flags' });
    expect(parseClientFlags(Buffer.from([0x80, 0, 0, 1]))).toEqual({ kind: 'error', reason: 'unknown-client-flags' });
  });

  it('reports short input instead of reading past the end', () => {
    expect(parseClientFlags(Buffer.from([0, 0]))).toEqual({ kind: 'error', reason: 'short-input' });
    expect(parseOptionHeader(Buffer.alloc(15))).toEqual({ kind: 'error', reason: 'short-input' });
  });

  it('rejects an option without the IHAVEOPT magic', () => {
    expect(parseOptionHeader(Buffer.alloc(16))).toEqual({ kind: 'error', reason: 'bad-option-magic' });
  });
});

describe('parsing options', () => {
  it('parses NBD_OPT_GO and NBD_OPT_INFO with their information requests', () => {
    expect(parseOption(NBD_OPT_GO, goData('vol', [NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE]))).toEqual({
      kind: 'go', option: NBD_OPT_GO, name: 'vol', infoTypes: [NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE],
    });
    expect(parseOption(NBD_OPT_INFO, goData('', []))).toEqual({ kind: 'info', option: NBD_OPT_INFO, name: '', infoTypes: [] });
  });

  it.each([
    ['shorter than 6 bytes', Buffer.alloc(5)],
    ['a name length past the data', Buffer.from([0, 0, 0, 9, 0x61, 0, 0])],
    ['a request count that does not match', Buffer.concat([Buffer.from(goData('vol', [])), Buffer.from([0])])],
    ['a name with NUL', goData('v\0l', [])],
    ['a name that is not UTF-8', Buffer.from([0, 0, 0, 1, 0xff, 0, 0])],
  ])('refuses a GO with %s as invalid', (_case, data) => {
    expect(parseOption(NBD_OPT_GO, data).kind).toBe('invalid');
  });

  it('refuses NBD_OPT_LIST with data, ignores data sent with NBD_OPT_ABORT', () => {
    expect(parseOption(NBD_OPT_LIST, Buffer.from([1])).kind).toBe('invalid');
    expect(parseOption(NBD_OPT_LIST, Buffer.alloc(0))).toEqual({ kind: 'list' });
    expect(parseOption(NBD_OPT_ABORT, Buffer.from([1, 2]))).toEqual({ kind: 'abort' });
  });

  it.each([NBD_OPT_STARTTLS, NBD_OPT_STRUCTURED_REPLY, 9, 10, 11, 0x1234, 0xffffffff])('calls option %i unsupported', (option) => {
    expect(parseOption(option, Buffer.alloc(0))).toEqual({ kind: 'unsupported', option });
  });
});

describe('answering options', () => {
  it('answers GO with NBD_INFO_EXPORT, the requested name and description, block sizes, then ACK, and enters transmission', () => {
    const answer = answerOption(parseOption(NBD_OPT_GO, goData('vol', [NBD_INFO_NAME, NBD_INFO_DESCRIPTION])), context());
    const replies = answer.replies.map(decodeReply);
    expect(replies.every((reply) => reply.magic === NBD_OPTION_REPLY_MAGIC && reply.option === NBD_OPT_GO)).toBe(true);
    expect(replies.map((reply) => reply.type)).toEqual([NBD_REP_INFO, NBD_REP_INFO, NBD_REP_INFO, NBD_REP_INFO, NBD_REP_ACK]);
    const info = new Map(replies.slice(0, 4).map((reply) => [reply.data.readUInt16BE(0), reply.data.subarray(2)]));
    expect(info.get(NBD_INFO_EXPORT)?.readBigUInt64BE(0)).toBe(1n << 20n);
    expect(info.get(NBD_INFO_EXPORT)?.readUInt16BE(8)).toBe(0x016d);
    expect(info.get(NBD_INFO_NAME)?.toString()).toBe('vol');
    expect(info.get(NBD_INFO_DESCRIPTION)?.toString()).toBe('a volume');
    const blockSize = info.get(NBD_INFO_BLOCK_SIZE);
    expect([blockSize?.readUInt32BE(0), blockSize?.readUInt32BE(4), blockSize?.readUInt32BE(8)]).toEqual([512, 4096, 1 << 25]);
    expect(answer.outcome).toEqual({ kind: 'transmit', export: volume });
  });

  it('answers INFO like GO but stays in the handshake', () => {
    const answer = answerOption(parseOption(NBD_OPT_INFO, goData('vol', [])), context());
    expect(answer.replies.map(decodeReply).map((reply) => reply.type)).toEqual([NBD_REP_INFO, NBD_REP_INFO, NBD_REP_ACK]);
    expect(answer.outcome).toEqual({ kind: 'continue' });
  });

  it('refuses GO for an unknown export with NBD_REP_ERR_UNKNOWN and lets the client go on', () => {
    const answer = answerOption(parseOption(NBD_OPT_GO, goData('nope', [])), context());
    expect(answer.replies.map(decodeReply).map((reply) => reply.type)).toEqual([NBD_REP_ERR_UNKNOWN]);
    expect(answer.outcome).toEqual({ kind: 'continue' });
  });

  it('lists every export with NBD_REP_SERVER (name, then description), then ACK', () => {
    const replies = answerOption({ kind: 'list' }, context()).replies.map(decodeReply);
    expect(replies.map((reply) => reply.type)).toEqual([NBD_REP_SERVER, NBD_REP_ACK]);
    const data = replies[0]?.data ?? Buffer.alloc(0);
    expect(data.readUInt32BE(0)).toBe(3);
    expect(data.subarray(4).toString()).toBe('vola volume');
  });

  it('answers unsupported options with NBD_REP_ERR_UNSUP, invalid ones with ERR_INVALID, oversized with ERR_TOO_BIG', () => {
    const typeOf = (request: OptionRequest): number | undefined => decodeReply(answerOption(request, context()).replies[0] ?? new Uint8Array()).type;
    expect(typeOf({ kind: 'unsupported', option: NBD_OPT_STRUCTURED_REPLY })).toBe(NBD_REP_ERR_UNSUP);
    expect(typeOf({ kind: 'invalid', option: NBD_OPT_GO, message: 'x' })).toBe(NBD_REP_ERR_INVALID);
    expect(typeOf({ kind: 'too-big', option: 77 })).toBe(NBD_REP_ERR_TOO_BIG);
  });

  it('answers NBD_OPT_EXPORT_NAME with size, flags and 124 zeroes unless NO_ZEROES was negotiated', () => {
    const withoutZeroes = answerOption({ kind: 'export-name', name: 'vol' }, context());
    expect(withoutZeroes.replies[0]?.length).toBe(10);
    const withZeroes = answerOption({ kind: 'export-name', name: 'vol' }, context({ clientFlags: { fixedNewstyle: true, noZeroes: false } }));
    const bytes = Buffer.from(withZeroes.replies[0] ?? new Uint8Array());
    expect(bytes.length).toBe(134);
    expect(bytes.readBigUInt64BE(0)).toBe(1n << 20n);
    expect(bytes.subarray(10).every((byte) => byte === 0)).toBe(true);
    expect(withZeroes.outcome.kind).toBe('transmit');
  });

  it('closes the session for NBD_OPT_EXPORT_NAME it cannot satisfy, since that option has no error reply', () => {
    expect(answerOption({ kind: 'export-name', name: 'nope' }, context())).toEqual({ replies: [], outcome: { kind: 'close', reason: 'unknown-export' } });
    expect(answerOption({ kind: 'too-big', option: NBD_OPT_EXPORT_NAME }, context()).outcome).toEqual({ kind: 'close', reason: 'invalid-export-name' });
  });

  it('acknowledges ABORT and closes', () => {
    const answer = answerOption({ kind: 'abort' }, context());
    expect(answer.replies.map(decodeReply).map((reply) => reply.type)).toEqual([NBD_REP_ACK]);
    expect(answer.outcome).toEqual({ kind: 'close', reason: 'client-aborted' });
  });

  it('refuses every option but ABORT with NBD_REP_ERR_SHUTDOWN while shutting down', () => {
    const closing = context({ shuttingDown: true });
    expect(decodeReply(answerOption({ kind: 'list' }, closing).replies[0] ?? new Uint8Array()).type).toBe(NBD_REP_ERR_SHUTDOWN);
    expect(decodeReply(answerOption(parseOption(NBD_OPT_GO, goData('vol', [])), closing).replies[0] ?? new Uint8Array()).type).toBe(NBD_REP_ERR_SHUTDOWN);
    expect(answerOption({ kind: 'export-name', name: 'vol' }, closing).outcome).toEqual({ kind: 'close', reason: 'shutting-down' });
    expect(answerOption({ kind: 'abort' }, closing).outcome.kind).toBe('close');
  });
});

describe('properties over random input', () => {
  it('never throws on random client flags, option headers or option data, and every reply is well framed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 300 }), (head, option, data) => {
        parseClientFlags(head);
        parseOptionHeader(head);
        const request = parseOption(option, data);
        const answer = answerOption(request, context());
        if (request.kind !== 'export-name') {
          for (const reply of answer.replies) expect(decodeReply(reply).magic).toBe(NBD_OPTION_REPLY_MAGIC);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('round-trips any valid export name and information list through GO', () => {
    const name = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((text) => !text.includes('\0'));
    fc.assert(
      fc.property(name, fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { maxLength: 20 }), (exportName, infoTypes) => {
        expect(parseOption(NBD_OPT_GO, goData(exportName, infoTypes))).toEqual({ kind: 'go', option: NBD_OPT_GO, name: exportName, infoTypes });
      }),
    );
  });

  it('keeps the largest legitimate GO (a 4096-byte name) under the option data limit', () => {
    expect(goData('x'.repeat(4096), [0, 1, 2, 3]).length).toBeLessThan(OPTION_DATA_BYTES_MAX);
  });
});
