// The part of metav1.ObjectMeta the operator reads. The CRD declares metadata as a bare
// object (the apiserver owns its schema), so this is written by hand rather than generated;
// fields the operator does not use are not parsed and not kept.
import {
  absent, at, expectObject, parseArray, parseInteger, parseString, type Issues,
} from './parse-support.js';

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly generation: number;
  readonly creationTimestamp?: string;
  /** Set once deletion was requested; the finalizer then releases the replicas. */
  readonly deletionTimestamp?: string;
  readonly finalizers: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

const DATE_TIME = { dateTime: true } as const;

/** Metadata of an object read from the apiserver: name, namespace, uid, resourceVersion and generation are always set there. */
export function parseObjectMeta(value: unknown, path: string, issues: Issues): ObjectMeta | undefined {
  const o = expectObject(value, path, issues);
  if (o === undefined) return undefined;
  const before = issues.length;
  const name = parseString(o['name'], at(path, 'name'), issues, { minLength: 1 });
  const namespace = parseString(o['namespace'], at(path, 'namespace'), issues, { minLength: 1 });
  const uid = parseString(o['uid'], at(path, 'uid'), issues, { minLength: 1 });
  const resourceVersion = parseString(o['resourceVersion'], at(path, 'resourceVersion'), issues, { minLength: 1 });
  const generation = parseInteger(o['generation'], at(path, 'generation'), issues, { minimum: 0 });
  const creationTimestamp = absent(o['creationTimestamp']) ? undefined : parseString(o['creationTimestamp'], at(path, 'creationTimestamp'), issues, DATE_TIME);
  const deletionTimestamp = absent(o['deletionTimestamp']) ? undefined : parseString(o['deletionTimestamp'], at(path, 'deletionTimestamp'), issues, DATE_TIME);
  const finalizers = parseArray(o['finalizers'] ?? [], at(path, 'finalizers'), issues, (item, itemPath) => parseString(item, itemPath, issues));
  const labels = parseStringMap(o['labels'], at(path, 'labels'), issues);
  const annotations = parseStringMap(o['annotations'], at(path, 'annotations'), issues);
  if (
    issues.length > before || name === undefined || namespace === undefined || uid === undefined || resourceVersion === undefined ||
    generation === undefined || finalizers === undefined || labels === undefined || annotations === undefined
  ) {
    return undefined;
  }
  return {
    name, namespace, uid, resourceVersion, generation, finalizers, labels, annotations,
    ...(creationTimestamp === undefined ? {} : { creationTimestamp }),
    ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }),
  };
}

function parseStringMap(value: unknown, path: string, issues: Issues): Readonly<Record<string, string>> | undefined {
  if (absent(value)) return {};
  const o = expectObject(value, path, issues);
  if (o === undefined) return undefined;
  const entries: [string, string][] = [];
  for (const [key, raw] of Object.entries(o)) {
    const text = parseString(raw, at(path, key), issues);
    if (text === undefined) return undefined;
    entries.push([key, text]);
  }
  return Object.fromEntries(entries);
}
