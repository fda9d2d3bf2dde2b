// Kubernetes quantities ("256Mi", "10Gi", "1e9") as byte counts.
//
// The grammar is apimachinery's resource.ParseQuantity:
//   quantity ::= sign? number suffix?      number ::= digits | digits "." digits? | "." digits
//   suffix   ::= Ki | Mi | Gi | Ti | Pi | Ei | n | u | m | k | M | G | T | P | E | (e|E) sign? digits
// Sizes are byte counts, so a quantity is accepted here only if it is a whole, non-negative
// number of bytes no larger than Number.MAX_SAFE_INTEGER (2^53 - 1, 8 PiB): the same bound
// the CRD's CEL rules put on every size field, so any value the apiserver admits parses.
// The arithmetic is exact (BigInt): "1000m" is 1 byte, "1500m" is refused, never rounded.
//
// The apiserver is stricter in one corner: its CEL isInteger() is false for a fraction
// before a binary suffix ("1.5Gi"), so the CRD refuses that spelling; here it is the
// 1610612736 bytes it means. Accepting more than the CRD is harmless at the adapter.
import { BunkerError } from '@bunker/proto/bunker-error';

declare const quantityBrand: unique symbol;
/** A string that parseQuantity accepted: quantityBytes() of it cannot fail. */
export type Quantity = string & { readonly [quantityBrand]: 'Quantity' };

export type QuantityProblem = 'format' | 'negative' | 'fractional' | 'too-large';

export type QuantityResult =
  | { readonly ok: true; readonly quantity: Quantity; readonly bytes: number }
  | { readonly ok: false; readonly problem: QuantityProblem; readonly message: string };

/** Thrown only by quantity(), which is meant for constants in code and tests. */
export class QuantityInvalid extends BunkerError<'QUANTITY_INVALID'> {
  readonly problem: QuantityProblem;
  constructor(text: string, problem: QuantityProblem, message: string) {
    super('QUANTITY_INVALID', `${JSON.stringify(text)}: ${message}`, { hint: 'write sizes like 256Mi, 10Gi or 1048576' });
    this.problem = problem;
  }
}

const BINARY_SHIFT: Readonly<Record<string, bigint>> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
const DECIMAL_EXPONENT: Readonly<Record<string, bigint>> = { n: -9n, u: -6n, m: -3n, '': 0n, k: 3n, M: 6n, G: 9n, T: 12n, P: 15n, E: 18n };
const SHAPE = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;
// Past this, a positive mantissa cannot stay under 2^53 and a negative exponent leaves
// nothing: the bound keeps BigInt powers small whatever the input says.
const EXPONENT_LIMIT = 40n;
const LENGTH_LIMIT = 64;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Parses a quantity of bytes. Bad input is an expected outcome: a typed result, no throw. */
export function parseQuantity(text: string): QuantityResult {
  const shape = text.length <= LENGTH_LIMIT ? SHAPE.exec(text) : null;
  if (text === '' || shape === null) {
    return refuse('format', 'not a quantity: expected a number with an optional suffix Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E or an exponent');
  }
  const [, sign = '', whole = '', fraction = '', suffix = ''] = shape;
  // A sign or point with no digit at all ("-", ".") is zero to apimachinery; refuse it as
  // a misspelling, since no one writes a size that way.
  if (whole === '' && fraction === '') return refuse('format', 'not a quantity: no digits');
  let numerator = BigInt(whole + fraction);
  let denominator = 10n ** BigInt(fraction.length);
  const shift = BINARY_SHIFT[suffix];
  if (shift !== undefined) {
    numerator <<= shift;
  } else {
    const exponent = DECIMAL_EXPONENT[suffix] ?? BigInt(suffix.slice(1));
    if (exponent > EXPONENT_LIMIT || exponent < -EXPONENT_LIMIT) {
      if (numerator === 0n) return accept(text, 0n, sign);
      return refuse(exponent > 0n ? 'too-large' : 'fractional', exponent > 0n ? 'larger than 2^53 - 1 bytes' : 'not a whole number of bytes');
    }
    if (exponent >= 0n) numerator *= 10n ** exponent;
    else denominator *= 10n ** -exponent;
  }
  if (numerator % denominator !== 0n) return refuse('fractional', 'not a whole number of bytes');
  return accept(text, numerator / denominator, sign);
}

function accept(text: string, bytes: bigint, sign: string): QuantityResult {
  if (sign === '-' && bytes !== 0n) return refuse('negative', 'negative');
  if (bytes > SAFE_MAX) return refuse('too-large', 'larger than 2^53 - 1 bytes');
  return { ok: true, quantity: brand(text), bytes: Number(bytes) };
}

function refuse(problem: QuantityProblem, message: string): QuantityResult {
  return { ok: false, problem, message };
}

// The brand's only constructor: reached only for text that parsed.
function brand(text: string): Quantity {
  return text as Quantity;
}

/** For constants in code and tests: throws QuantityInvalid on bad input. */
export function quantity(text: string): Quantity {
  const result = parseQuantity(text);
  if (!result.ok) throw new QuantityInvalid(text, result.problem, result.message);
  return result.quantity;
}

/** Bytes of a quantity that was parsed before: failing here is a programmer error. */
export function quantityBytes(value: Quantity): number {
  const result = parseQuantity(value);
  if (!result.ok) throw new Error(`assertion failed: branded quantity ${JSON.stringify(value)} does not parse: ${result.message}`);
  return result.bytes;
}
