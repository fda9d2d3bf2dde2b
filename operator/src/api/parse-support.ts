// The building blocks of the generated parsers (generated.ts). Each checks one JSON value
// against one schema constraint, records a FieldIssue naming the field when it fails, and
// returns the typed value or undefined. No casts: every narrowing is a runtime check the
// compiler can follow, so nothing past the adapter sees `unknown` data as typed.
import { epoch, nodeName, seq, type Epoch, type NodeName, type Seq } from '@bunker/proto/ids';
import { parseQuantity, type Quantity } from './quantity.js';

/** One failing field: `path` as the apiserver spells it (`spec.placement.spares[1]`). */
export interface FieldIssue {
  readonly path: string;
  readonly problem: string;
}

export type Issues = FieldIssue[];

/** Path of a property below `path`. */
export function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** JSON null and a missing key mean the same: the apiserver drops nulls it would default. */
export function absent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

export function expectObject(value: unknown, path: string, issues: Issues): Readonly<Record<string, unknown>> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({ path, problem: `must be an object, got ${describe(value)}` });
    return undefined;
  }
  // An object literal from JSON.parse: its own enumerable keys are the fields.
  return Object.fromEntries(Object.entries(value));
}

export function required(path: string, issues: Issues): undefined {
  issues.push({ path, problem: 'is required' });
  return undefined;
}

export interface StringRules {
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: RegExp;
  readonly dateTime?: boolean;
}

// RFC 3339 as Kubernetes writes metav1.Time: seconds, optional fraction, Z or an offset.
const DATE_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$/;

export function parseString(value: unknown, path: string, issues: Issues, rules: StringRules = {}): string | undefined {
  if (typeof value !== 'string') {
    issues.push({ path, problem: `must be a string, got ${describe(value)}` });
    return undefined;
  }
  // Lengths in Unicode code points, as the apiserver counts them.
  const length = [...value].length;
  if (rules.minLength !== undefined && length < rules.minLength) {
    issues.push({ path, problem: `must be at least ${rules.minLength} characters long` });
    return undefined;
  }
  if (rules.maxLength !== undefined && length > rules.maxLength) {
    issues.push({ path, problem: `must be at most ${rules.maxLength} characters long` });
    return undefined;
  }
  if (rules.pattern !== undefined && !rules.pattern.test(value)) {
    issues.push({ path, problem: `must match ${rules.pattern.source}, got ${JSON.stringify(value)}` });
    return undefined;
  }
  if (rules.dateTime === true && !(DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)))) {
    issues.push({ path, problem: `must be an RFC 3339 date-time, got ${JSON.stringify(value)}` });
    return undefined;
  }
  return value;
}

export function parseEnum<const T extends string>(value: unknown, path: string, issues: Issues, allowed: readonly T[]): T | undefined {
  const found = allowed.find((option) => option === value);
  if (found === undefined) {
    issues.push({ path, problem: `must be one of ${allowed.map((option) => JSON.stringify(option)).join(', ')}, got ${describe(value)}` });
  }
  return found;
}

export interface NumberRules {
  readonly minimum?: number;
  readonly maximum?: number;
}

export function parseInteger(value: unknown, path: string, issues: Issues, rules: NumberRules = {}): number | undefined {
  // int64 fields hold sequences and byte counts: past 2^53 a JavaScript number rounds, so
  // refuse instead of rounding silently (ids.ts makes the same promise for the wire).
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    issues.push({ path, problem: `must be an integer no larger than 2^53 - 1, got ${describe(value)}` });
    return undefined;
  }
  return checkRange(value, path, issues, rules);
}

export function parseNumber(value: unknown, path: string, issues: Issues, rules: NumberRules = {}): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    issues.push({ path, problem: `must be a number, got ${describe(value)}` });
    return undefined;
  }
  return checkRange(value, path, issues, rules);
}

function checkRange(value: number, path: string, issues: Issues, rules: NumberRules): number | undefined {
  if (rules.minimum !== undefined && value < rules.minimum) {
    issues.push({ path, problem: `must be at least ${rules.minimum}, got ${value}` });
    return undefined;
  }
  if (rules.maximum !== undefined && value > rules.maximum) {
    issues.push({ path, problem: `must be at most ${rules.maximum}, got ${value}` });
    return undefined;
  }
  return value;
}

export function parseBoolean(value: unknown, path: string, issues: Issues): boolean | undefined {
  if (typeof value !== 'boolean') {
    issues.push({ path, problem: `must be a boolean, got ${describe(value)}` });
    return undefined;
  }
  return value;
}

export function parseNodeName(value: unknown, path: string, issues: Issues, rules: StringRules = {}): NodeName | undefined {
  const text = parseString(value, path, issues, rules);
  return text === undefined ? undefined : nodeName(text);
}

export function parseQuantityString(value: unknown, path: string, issues: Issues, rules: StringRules = {}): Quantity | undefined {
  const text = parseString(value, path, issues, rules);
  if (text === undefined) return undefined;
  const result = parseQuantity(text);
  if (!result.ok) {
    issues.push({ path, problem: `${result.message}, got ${JSON.stringify(text)}` });
    return undefined;
  }
  return result.quantity;
}

export function parseSeq(value: unknown, path: string, issues: Issues, rules: NumberRules = {}): Seq | undefined {
  const number = parseInteger(value, path, issues, { minimum: 0, ...rules });
  return number === undefined ? undefined : seq(number);
}

export function parseEpoch(value: unknown, path: string, issues: Issues, rules: NumberRules = {}): Epoch | undefined {
  const number = parseInteger(value, path, issues, { minimum: 0, ...rules });
  return number === undefined ? undefined : epoch(number);
}

export interface ArrayRules<T> {
  readonly maxItems?: number;
  /** x-kubernetes-list-type set or map: the key that must be unique. */
  readonly keyOf?: (item: T) => string;
}

export function parseArray<T>(
  value: unknown,
  path: string,
  issues: Issues,
  parseItem: (item: unknown, itemPath: string) => T | undefined,
  rules: ArrayRules<NoInfer<T>> = {},
): readonly T[] | undefined {
  if (!Array.isArray(value)) {
    issues.push({ path, problem: `must be a list, got ${describe(value)}` });
    return undefined;
  }
  if (rules.maxItems !== undefined && value.length > rules.maxItems) {
    issues.push({ path, problem: `must have at most ${rules.maxItems} items, got ${value.length}` });
    return undefined;
  }
  const items: T[] = [];
  const seen = new Set<string>();
  let valid = true;
  value.forEach((raw: unknown, index) => {
    const itemPath = `${path}[${index}]`;
    const item = parseItem(raw, itemPath);
    if (item === undefined) {
      valid = false;
      return;
    }
    const key = rules.keyOf?.(item);
    if (key !== undefined && seen.has(key)) {
      issues.push({ path: itemPath, problem: `duplicate value ${key}` });
      valid = false;
      return;
    }
    if (key !== undefined) seen.add(key);
    items.push(item);
  });
  return valid ? items : undefined;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
