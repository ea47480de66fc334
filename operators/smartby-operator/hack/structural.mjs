// Turns the umbrella chart's values.schema.json (JSON Schema draft-07) into the structural
// OpenAPI v3 schema a CustomResourceDefinition needs, keeping every property, type and value
// check that Kubernetes can express:
//   - $ref is inlined (CRDs have no definitions), a sibling description kept;
//   - additionalProperties: false is dropped: the API server prunes unknown fields (and refuses
//     them with kubectl's strict field validation); additionalProperties: true, and objects
//     without properties, become x-kubernetes-preserve-unknown-fields (Affinity, EnvVar, ...);
//   - an anyOf of integer and string (a resource quantity) becomes x-kubernetes-int-or-string;
//   - const becomes a one-value enum, and an enum without a type gets its values' type.
// Any other keyword is an error naming where it is, so a new chart feature cannot be silently
// lost from the CRD.

// Keywords that mean the same in a CRD schema.
const KEPT = new Set(['type', 'description', 'title', 'required', 'enum', 'pattern', 'minLength',
  'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf',
  'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties', 'format', 'default',
  'nullable']);
// Keywords that only structure the JSON Schema document.
const DROPPED = new Set(['$schema', '$id', 'definitions', '$defs', '$comment', 'examples']);

function resolve(node, root, where) {
  if (!node.$ref) return node;
  const match = /^#\/(definitions|\$defs)\/(.+)$/.exec(node.$ref);
  const target = match && root[match[1]]?.[match[2]];
  if (!target) throw new Error(`${where}: cannot resolve $ref ${node.$ref}`);
  const { $ref, ...siblings } = node;
  return resolve({ ...target, ...siblings }, root, where);
}

function valueType(value) {
  if (typeof value === 'boolean') return 'boolean';
  if (Number.isInteger(value)) return 'integer';
  if (typeof value === 'number') return 'number';
  return 'string';
}

function convert(input, root, where) {
  const node = resolve(input, root, where);
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (KEPT.has(key)) {
      if (key === 'type' && typeof value !== 'string') throw new Error(`${where}: type must be one type, not ${JSON.stringify(value)}`);
      out[key] = value;
    } else if (DROPPED.has(key)) {
      // not part of the value's shape
    } else if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, convert(child, root, `${where}.${name}`)]));
    } else if (key === 'items') {
      out.items = convert(value, root, `${where}[]`);
    } else if (key === 'additionalProperties') {
      if (value === true) out['x-kubernetes-preserve-unknown-fields'] = true;
      else if (typeof value === 'object') out.additionalProperties = convert(value, root, `${where}.*`);
      // false: see the header
    } else if (key === 'const') {
      out.enum = [value];
    } else if (key === 'anyOf') {
      const branches = value.map((b, i) => convert(b, root, `${where}|${i}`));
      const types = new Set(branches.map((b) => b.type));
      if (types.size !== 2 || !types.has('integer') || !types.has('string')) {
        throw new Error(`${where}: anyOf is only supported for integer-or-string, not ${[...types].join(', ')}`);
      }
      out['x-kubernetes-int-or-string'] = true;
      out.anyOf = branches;
    } else {
      throw new Error(`${where}: the JSON Schema keyword "${key}" has no CRD equivalent; extend hack/structural.mjs`);
    }
  }
  if (!out.type && out.enum) out.type = valueType(out.enum[0]);
  if (out.type === 'object' && !out.properties && !out.additionalProperties) {
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  if (!out.type && !out['x-kubernetes-int-or-string'] && !out['x-kubernetes-preserve-unknown-fields']) {
    throw new Error(`${where}: a CRD schema needs a type here`);
  }
  return out;
}

// The CRD schema of a SmartbyPlatform's spec from the umbrella chart's values schema.
export function crdSpecSchema(valuesSchema) {
  return convert(valuesSchema, valuesSchema, 'spec');
}
