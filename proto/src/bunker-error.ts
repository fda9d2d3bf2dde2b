// Base of every I/O and operating error Bunker raises. `code` is a stable identifier that
// callers branch on (never the message text); `hint` says what to do about it. The brand
// check survives duplicate copies of this module, where `instanceof` would not.

const BUNKER_ERROR = Symbol.for('bunker.error');

export class BunkerError<Code extends string = string> extends Error {
  readonly [BUNKER_ERROR] = true;
  readonly code: Code;
  readonly hint: string;

  constructor(code: Code, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint ?? '';
  }

  static is(value: unknown): value is BunkerError {
    return typeof value === 'object' && value !== null && (value as { [BUNKER_ERROR]?: unknown })[BUNKER_ERROR] === true;
  }
}
