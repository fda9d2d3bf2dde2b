#!/usr/bin/env node
// Generates operator/src/api/generated.ts (the ReplicatedVolume types and their parsers)
// from the CRD's openAPIV3Schema, so that the TypeScript view of the resource cannot drift
// from what the apiserver stores:
//   node operator/scripts/gen-api-types.mjs            rewrite generated.ts
//   node operator/scripts/gen-api-types.mjs --check    exit 1 if generated.ts is stale
// operator/src/api/generated.test.ts runs generateApiTypes() in memory and fails when the
// committed file differs.
//
// What it maps, and why:
//  - a field with a `default` is required in the type: the apiserver fills defaults on
//    every read, and the parser fills them the same way for manifests;
//  - every object needs a type name (NAMES, by schema path); objects that share a name must
//    have identical schemas; every enum needs a name (ENUMS, by Type.field);
//  - REFINE gives a field a branded type (NodeName, Quantity, Seq, Epoch) and its checking
//    parser; an entry that matches no field is an error, so the table cannot go stale;
//  - a schema keyword this script does not understand is an error, not silently ignored.
//    CEL rules (x-kubernetes-validations) are not translated: operator/src/api/invariants.ts
//    ports them by hand and its test checks every rule of the CRD is accounted for.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const crdPath = join(repoRoot, 'crds', 'replicatedvolumes.replication.bunker.dev.yaml');
export const outputPath = join(repoRoot, 'operator', 'src', 'api', 'generated.ts');

/** Type name of every object in the schema, by path ('[]' for list items). */
const NAMES = {
  spec: 'ReplicatedVolumeSpec',
  'spec.placement': 'Placement',
  'spec.placement.primary': 'RolePlacement',
  'spec.placement.bunker': 'RolePlacement',
  'spec.placement.secondary': 'RolePlacement',
  'spec.log': 'LogSpec',
  'spec.replication': 'ReplicationSpec',
  'spec.failover': 'FailoverSpec',
  'spec.takeover': 'TakeoverRequest',
  'spec.migrate': 'MigrateRequest',
  'spec.resync': 'ResyncSpec',
  status: 'ReplicatedVolumeStatus',
  'status.roles': 'RoleStatuses',
  'status.roles.primary': 'RoleStatus',
  'status.roles.bunker': 'RoleStatus',
  'status.roles.secondary': 'RoleStatus',
  'status.lag': 'LagStatus',
  'status.conditions[]': 'Condition',
  'status.endpoint': 'EndpointStatus',
  'status.takeover': 'TakeoverProgress',
  'status.lastTakeover': 'TakeoverRecord',
  'status.migration': 'MigrationProgress',
  'status.lastMigration': 'MigrationRecord',
  'status.resync': 'ResyncProgress',
  'status.handledRequests': 'HandledRequests',
  'status.lastRefusal': 'Refusal',
};

/** Name of every enum, by Type.field. */
const ENUMS = {
  'LogSpec.fillPolicy': 'FillPolicy',
  'ReplicationSpec.recovery': 'RecoveryMode',
  'ReplicationSpec.secondary': 'SecondaryMode',
  'ReplicationSpec.onBunkerLoss': 'BunkerLossPolicy',
  'FailoverSpec.mode': 'FailoverMode',
  'ReplicatedVolumeSpec.reclaimPolicy': 'ReclaimPolicy',
  'ReplicatedVolumeStatus.phase': 'Phase',
  'RoleStatus.state': 'ReplicaState',
  'RoleStatus.health': 'ReplicaHealth',
  'Condition.status': 'ConditionStatus',
  'TakeoverProgress.step': 'TakeoverStep',
  'TakeoverProgress.reason': 'TakeoverReason',
  'TakeoverRecord.reason': 'TakeoverReason',
  'MigrationProgress.step': 'MigrationStep',
  'ResyncProgress.state': 'ResyncState',
  'ResyncProgress.scope': 'ResyncScope',
};

/** Branded types, by Type.field ('[]' for list items), and the parser that checks them. */
const REFINE = {
  'ReplicatedVolumeSpec.size': 'Quantity',
  'LogSpec.size': 'Quantity',
  'LogSpec.changeMapRegionSize': 'Quantity',
  'ResyncSpec.bytesPerSecondMax': 'Quantity',
  'RolePlacement.node': 'NodeName',
  'Placement.spares[]': 'NodeName',
  'TakeoverRequest.targetNode': 'NodeName',
  'MigrateRequest.targetNode': 'NodeName',
  'ReplicatedVolumeStatus.epoch': 'Epoch',
  'ReplicatedVolumeStatus.currentPrimary': 'NodeName',
  'ReplicatedVolumeStatus.targetPrimary': 'NodeName',
  'RoleStatus.node': 'NodeName',
  'RoleStatus.durableSeq': 'Seq',
  'RoleStatus.appliedSeq': 'Seq',
  'TakeoverProgress.fromNode': 'NodeName',
  'TakeoverProgress.targetNode': 'NodeName',
  'TakeoverProgress.fromEpoch': 'Epoch',
  'TakeoverProgress.toEpoch': 'Epoch',
  'TakeoverRecord.fromNode': 'NodeName',
  'TakeoverRecord.toNode': 'NodeName',
  'TakeoverRecord.fromEpoch': 'Epoch',
  'TakeoverRecord.toEpoch': 'Epoch',
  'MigrationProgress.fromNode': 'NodeName',
  'MigrationProgress.targetNode': 'NodeName',
  'MigrationProgress.fromEpoch': 'Epoch',
  'MigrationProgress.toEpoch': 'Epoch',
  'MigrationRecord.fromNode': 'NodeName',
  'MigrationRecord.toNode': 'NodeName',
  'MigrationRecord.fromEpoch': 'Epoch',
  'MigrationRecord.toEpoch': 'Epoch',
  'ResyncProgress.sourceNode': 'NodeName',
  'ResyncProgress.targetNode': 'NodeName',
};

/** Doc comment of a type used at several paths, whose descriptions there say where it is used. */
const TYPE_DOCS = {
  RolePlacement: 'Where one role is placed.',
  RoleStatus: 'One replica, as its agent last reported it.',
};

const REFINED_PARSERS = { Quantity: 'parseQuantityString', NodeName: 'parseNodeName', Seq: 'parseSeq', Epoch: 'parseEpoch' };
const REFINED_BASE = { Quantity: 'string', NodeName: 'string', Seq: 'integer', Epoch: 'integer' };

const KNOWN_KEYWORDS = new Set([
  'type', 'description', 'properties', 'required', 'items', 'enum', 'default', 'minimum', 'maximum',
  'minLength', 'maxLength', 'pattern', 'format', 'maxItems',
  'x-kubernetes-validations', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys',
]);
const KNOWN_FORMATS = new Set(['int32', 'int64', 'date-time']);

class Generator {
  constructor() {
    /** name -> { schema, code } for objects and enums, in first-seen order. */
    this.objects = new Map();
    this.enums = new Map();
    this.patterns = new Map();
    this.helpers = new Set(['at', 'absent', 'expectObject', 'type Issues']);
    this.brands = new Set();
    this.refinementsUsed = new Set();
  }

  fail(path, message) {
    throw new Error(`gen-api-types: ${path || '<root>'}: ${message}`);
  }

  checkKeywords(schema, path) {
    for (const key of Object.keys(schema)) {
      if (!KNOWN_KEYWORDS.has(key)) this.fail(path, `schema keyword ${key} is not supported by the generator`);
    }
    if (schema.format !== undefined && !KNOWN_FORMATS.has(schema.format)) this.fail(path, `format ${schema.format} is not supported`);
  }

  /** Declares the object type at `path` and returns its name. */
  object(schema, path) {
    this.checkKeywords(schema, path);
    const name = NAMES[path];
    if (name === undefined) this.fail(path, 'object has no type name: add it to NAMES');
    if (schema.type !== 'object' || schema.properties === undefined) this.fail(path, 'expected an object with properties');
    const known = this.objects.get(name);
    if (known !== undefined) {
      if (shapeOf(known.schema) !== shapeOf(schema)) this.fail(path, `type ${name} is used for schemas whose fields differ`);
      return name;
    }
    this.objects.set(name, { schema, code: '' });
    this.objects.get(name).code = this.objectCode(name, schema, path);
    return name;
  }

  objectCode(name, schema, path) {
    const required = new Set(schema.required ?? []);
    for (const key of required) if (!(key in schema.properties)) this.fail(path, `required field ${key} is not a property`);
    const fields = [];
    const lines = [];
    for (const [key, property] of Object.entries(schema.properties)) {
      const fieldPath = path === '' ? key : `${path}.${key}`;
      const owner = `${name}.${key}`;
      const tsType = this.typeOf(property, fieldPath, owner);
      const hasDefault = property.default !== undefined;
      const isRequired = required.has(key) || hasDefault;
      fields.push({ key, tsType, isRequired, doc: docOf(property) });
      const raw = `o[${literal(key)}]`;
      const keyPath = `at(path, ${literal(key)})`;
      let expression;
      if (hasDefault) {
        expression = this.parseExpression(property, fieldPath, owner, `${raw} ?? ${literal(property.default)}`, keyPath);
      } else if (required.has(key)) {
        this.helpers.add('required');
        expression = `absent(${raw}) ? required(${keyPath}, issues) : ${this.parseExpression(property, fieldPath, owner, raw, keyPath)}`;
      } else {
        expression = `absent(${raw}) ? undefined : ${this.parseExpression(property, fieldPath, owner, raw, keyPath)}`;
      }
      lines.push(`  const ${local(key)} = ${expression};`);
    }
    const requiredFields = fields.filter((field) => field.isRequired);
    const optionalFields = fields.filter((field) => !field.isRequired);
    const guard = ['issues.length > before', ...requiredFields.map((field) => `${local(field.key)} === undefined`)].join(' || ');
    const result = [
      ...requiredFields.map((field) => `    ${field.key}: ${local(field.key)},`),
      ...optionalFields.map((field) => `    ...(${local(field.key)} === undefined ? {} : { ${field.key}: ${local(field.key)} }),`),
    ];
    return [
      `${docComment(TYPE_DOCS[name] === undefined ? schema : { description: TYPE_DOCS[name] }, '')}export interface ${name} {`,
      ...fields.map((field) => `${docComment({ description: field.doc }, '  ')}  readonly ${field.key}${field.isRequired ? '' : '?'}: ${field.tsType};`),
      '}',
      '',
      `export function parse${name}(value: unknown, path: string, issues: Issues): ${name} | undefined {`,
      '  const o = expectObject(value, path, issues);',
      '  if (o === undefined) return undefined;',
      '  const before = issues.length;',
      ...lines,
      `  if (${guard}) return undefined;`,
      '  return {',
      ...result,
      '  };',
      '}',
    ].join('\n');
  }

  refinement(owner, schema, path) {
    const brand = REFINE[owner];
    if (brand === undefined) return undefined;
    this.refinementsUsed.add(owner);
    if (schema.type !== REFINED_BASE[brand]) this.fail(path, `${brand} needs a ${REFINED_BASE[brand]} schema`);
    return brand;
  }

  typeOf(schema, path, owner) {
    this.checkKeywords(schema, path);
    const brand = this.refinement(owner, schema, path);
    if (brand !== undefined) {
      this.brands.add(brand);
      return brand;
    }
    if (schema.enum !== undefined) return this.enumType(schema, path, owner);
    switch (schema.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'object':
        return this.object(schema, path);
      case 'array':
        return `readonly ${this.typeOf(schema.items, `${path}[]`, `${owner}[]`)}[]`;
      default:
        return this.fail(path, `type ${schema.type} is not supported`);
    }
  }

  enumType(schema, path, owner) {
    const name = ENUMS[owner];
    if (name === undefined) this.fail(path, `enum has no type name: add ${owner} to ENUMS`);
    if (schema.type !== 'string') this.fail(path, 'only string enums are supported');
    const known = this.enums.get(name);
    if (known !== undefined && JSON.stringify(known) !== JSON.stringify(schema.enum)) this.fail(path, `enum ${name} is used with different values`);
    this.enums.set(name, schema.enum);
    return name;
  }

  pattern(source) {
    if (!this.patterns.has(source)) this.patterns.set(source, `PATTERN_${this.patterns.size}`);
    return this.patterns.get(source);
  }

  rules(schema) {
    const rules = [];
    for (const key of ['minLength', 'maxLength', 'minimum', 'maximum']) {
      if (schema[key] !== undefined) rules.push(`${key}: ${schema[key]}`);
    }
    if (schema.pattern !== undefined) rules.push(`pattern: ${this.pattern(schema.pattern)}`);
    if (schema.format === 'date-time') rules.push('dateTime: true');
    return rules.length === 0 ? '' : `, { ${rules.join(', ')} }`;
  }

  parseExpression(schema, path, owner, raw, keyPath) {
    const brand = REFINE[owner];
    if (brand !== undefined) {
      this.helpers.add(REFINED_PARSERS[brand]);
      return `${REFINED_PARSERS[brand]}(${raw}, ${keyPath}, issues${this.rules(schema)})`;
    }
    if (schema.enum !== undefined) {
      this.helpers.add('parseEnum');
      return `parseEnum(${raw}, ${keyPath}, issues, ${valuesName(ENUMS[owner])})`;
    }
    switch (schema.type) {
      case 'string':
        this.helpers.add('parseString');
        return `parseString(${raw}, ${keyPath}, issues${this.rules(schema)})`;
      case 'integer':
        this.helpers.add('parseInteger');
        return `parseInteger(${raw}, ${keyPath}, issues${this.rules(schema)})`;
      case 'number':
        this.helpers.add('parseNumber');
        return `parseNumber(${raw}, ${keyPath}, issues${this.rules(schema)})`;
      case 'boolean':
        this.helpers.add('parseBoolean');
        return `parseBoolean(${raw}, ${keyPath}, issues)`;
      case 'object':
        return `parse${NAMES[path]}(${raw}, ${keyPath}, issues)`;
      case 'array':
        return this.arrayExpression(schema, path, owner, raw, keyPath);
      default:
        return this.fail(path, `type ${schema.type} is not supported`);
    }
  }

  arrayExpression(schema, path, owner, raw, keyPath) {
    this.helpers.add('parseArray');
    const rules = [];
    if (schema.maxItems !== undefined) rules.push(`maxItems: ${schema.maxItems}`);
    const listType = schema['x-kubernetes-list-type'] ?? 'atomic';
    if (listType === 'set') rules.push('keyOf: (item) => JSON.stringify(item)');
    if (listType === 'map') {
      const keys = schema['x-kubernetes-list-map-keys'] ?? this.fail(path, 'map list without list-map-keys');
      rules.push(`keyOf: (item) => JSON.stringify([${keys.map((key) => `item.${key}`).join(', ')}])`);
    }
    const item = this.parseExpression(schema.items, `${path}[]`, `${owner}[]`, 'item', 'itemPath');
    return `parseArray(${raw}, ${keyPath}, issues, (item, itemPath) => ${item}${rules.length === 0 ? '' : `, { ${rules.join(', ')} }`})`;
  }
}

/** A TypeScript literal for a JSON value, in the repository's single-quote style. */
function literal(value) {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([key, item]) => `${literal(key)}: ${literal(item)}`);
    return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
  }
  return JSON.stringify(value);
}

/** The schema without what does not change the type or the parser: descriptions and CEL rules. */
function shapeOf(schema) {
  return JSON.stringify(schema, (key, value) => (key === 'description' || key === 'x-kubernetes-validations' ? undefined : value));
}

function wrap(names, indent) {
  const lines = [];
  let line = '';
  for (const name of names) {
    const next = line === '' ? `${name},` : `${line} ${name},`;
    if (indent.length + next.length > 100 && line !== '') {
      lines.push(indent + line);
      line = `${name},`;
    } else {
      line = next;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines.join('\n');
}

function local(key) {
  return `${key}Value`;
}

function valuesName(enumName) {
  return `${enumName.charAt(0).toLowerCase()}${enumName.slice(1)}Values`;
}

function docOf(schema) {
  const parts = [];
  if (schema.description !== undefined) parts.push(schema.description.trim());
  if (schema.default !== undefined) parts.push(`Default: ${literal(schema.default)}.`);
  return parts.join(' ');
}

function docComment(schema, indent) {
  const text = schema.description ?? '';
  if (text === '') return '';
  const words = text.replace(/\*\//g, '*\\/').split(/\s+/);
  const lines = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && line.length + word.length + 1 > 96) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

/** The whole of generated.ts for the CRD text given. Pure, so the test can run it in memory. */
export function generateApiTypes(crdText, crdName = 'crds/replicatedvolumes.replication.bunker.dev.yaml') {
  const crd = parse(crdText, { merge: true });
  const versions = crd.spec.versions;
  if (versions.length !== 1) throw new Error('gen-api-types: expected exactly one version in the CRD');
  const [version] = versions;
  const root = version.schema.openAPIV3Schema;
  const rootKeys = Object.keys(root.properties).sort().join(',');
  if (rootKeys !== 'apiVersion,kind,metadata,spec,status') throw new Error(`gen-api-types: unexpected root fields ${rootKeys}`);
  if (!(root.required ?? []).includes('spec')) throw new Error('gen-api-types: spec must be required');

  const generator = new Generator();
  generator.object(root.properties.spec, 'spec');
  generator.object(root.properties.status, 'status');
  const stale = Object.keys(REFINE).filter((owner) => !generator.refinementsUsed.has(owner));
  if (stale.length > 0) throw new Error(`gen-api-types: REFINE entries match no field: ${stale.join(', ')}`);
  const unusedNames = Object.keys(NAMES).filter((path) => !generator.objects.has(NAMES[path]));
  if (unusedNames.length > 0) throw new Error(`gen-api-types: NAMES entries match no object: ${unusedNames.join(', ')}`);

  const apiVersion = `${crd.spec.group}/${version.name}`;
  const idsTypes = ['Epoch', 'NodeName', 'Seq'].filter((brand) => generator.brands.has(brand));
  const helpers = [...generator.helpers].sort((a, b) => a.replace('type ', '').localeCompare(b.replace('type ', '')));
  const out = [];
  out.push(`// Code generated by operator/scripts/gen-api-types.mjs from ${crdName}. DO NOT EDIT.`);
  out.push('// Regenerate with `node operator/scripts/gen-api-types.mjs`; generated.test.ts fails when this is stale.');
  if (idsTypes.length > 0) out.push(`import type { ${idsTypes.join(', ')} } from '@bunker/proto/ids';`);
  out.push("import type { ObjectMeta } from './object-meta.js';");
  out.push(`import {\n${wrap(helpers, '  ')}\n} from './parse-support.js';`);
  if (generator.brands.has('Quantity')) out.push("import type { Quantity } from './quantity.js';");
  out.push('');
  out.push(`export const API_GROUP = ${literal(crd.spec.group)};`);
  out.push(`export const API_VERSION = ${literal(version.name)};`);
  out.push(`export const API_GROUP_VERSION = ${literal(apiVersion)};`);
  out.push(`export const KIND = ${literal(crd.spec.names.kind)};`);
  out.push(`export const PLURAL = ${literal(crd.spec.names.plural)};`);
  out.push('');
  for (const [source, name] of generator.patterns) out.push(`const ${name} = new RegExp(${literal(source)});`);
  out.push('');
  for (const [name, values] of generator.enums) {
    out.push(`export const ${valuesName(name)} = [${values.map((v) => literal(v)).join(', ')}] as const;`);
    out.push(`export type ${name} = (typeof ${valuesName(name)})[number];`);
  }
  out.push('');
  out.push(docComment(root, '') + `export interface ${crd.spec.names.kind} {`);
  out.push(`  readonly apiVersion: ${literal(apiVersion)};`);
  out.push(`  readonly kind: ${literal(crd.spec.names.kind)};`);
  out.push('  readonly metadata: ObjectMeta;');
  out.push(`${docComment(root.properties.spec, '  ')}  readonly spec: ReplicatedVolumeSpec;`);
  out.push(`${docComment(root.properties.status, '  ')}  readonly status?: ReplicatedVolumeStatus;`);
  out.push('}');
  for (const { code } of generator.objects.values()) out.push('', code);
  out.push('');
  return out.join('\n');
}

function main() {
  const check = process.argv.includes('--check');
  const generated = generateApiTypes(readFileSync(crdPath, 'utf8'));
  const current = existsSync(outputPath) ? readFileSync(outputPath, 'utf8') : '';
  if (check) {
    if (current !== generated) {
      console.error(`${outputPath} is stale: run node operator/scripts/gen-api-types.mjs`);
      process.exit(1);
    }
    return;
  }
  if (current !== generated) writeFileSync(outputPath, generated);
  console.log(`${current === generated ? 'unchanged' : 'wrote'} ${outputPath}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
