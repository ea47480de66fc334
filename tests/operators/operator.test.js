// The Smartby operator (operators/smartby-operator), offline: its CRD is a valid, structural
// CustomResourceDefinition whose spec mirrors the umbrella chart's values schema; the sample
// SmartbyPlatform validates against it and its spec renders through the real umbrella chart into
// valid manifests; wrong-typed resources are refused; the operator's RBAC covers everything the
// chart renders; the manager, the OLM bundle and its image agree with each other.
// Run as `node operator.test.js --source=<repo> --charts=<prepared charts>` (see CMakeLists.txt);
// it reuses the chart tests' helpers (tests/deploy/lib).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { SOURCE_DIR, YAML, toolsRequire, render, renderOk } = require('../deploy/lib/context');
const { COMBOS, forUmbrella } = require('../deploy/lib/combos');
const { validateObjects } = require('../deploy/lib/schemas');
const { checkRestricted } = require('../deploy/lib/restricted');

const Ajv = toolsRequire('ajv');
const OPERATOR = path.join(SOURCE_DIR, 'operators', 'smartby-operator');
const read = (file) => fs.readFileSync(path.join(OPERATOR, file), 'utf8');
const readYaml = (file) => YAML.parse(read(file));
const readAll = (file) => YAML.parseAllDocuments(read(file)).map((d) => d.toJS()).filter(Boolean);

const crd = readYaml('config/crd/bases/smartby.io_smartbyplatforms.yaml');
const version = crd.spec.versions[0];
const crSchema = version.schema.openAPIV3Schema;
const sample = readYaml('config/samples/smartby_v1alpha1_smartbyplatform.yaml');
const valuesSchema = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'helm', 'smartby', 'values.schema.json'), 'utf8'));

// --- Checkers (each returns plain-language problems; tested below on broken input too) -----

// Kubernetes' structural-schema rules that matter here: a type (or int-or-string / preserved
// unknown fields) on every node, no $ref, properties and additionalProperties never together,
// nothing but value checks inside anyOf.
function structuralProblems(schema, where = 'openAPIV3Schema') {
  const problems = [];
  if (schema.$ref || schema.definitions) problems.push(`${where}: $ref/definitions are not allowed in a CRD`);
  if (!schema.type && !schema['x-kubernetes-int-or-string'] && !schema['x-kubernetes-preserve-unknown-fields']) {
    problems.push(`${where}: no type`);
  }
  if (Array.isArray(schema.type)) problems.push(`${where}: type must be a single type`);
  if (schema.properties && schema.additionalProperties !== undefined) {
    problems.push(`${where}: properties and additionalProperties together`);
  }
  if (schema.additionalProperties === false) problems.push(`${where}: additionalProperties: false is not allowed`);
  for (const [i, branch] of (schema.anyOf || []).entries()) {
    for (const key of ['description', 'default', 'additionalProperties', 'nullable', 'properties']) {
      if (branch[key] !== undefined) problems.push(`${where}.anyOf[${i}]: ${key} is not allowed inside anyOf`);
    }
    if (branch.type && !schema['x-kubernetes-int-or-string']) problems.push(`${where}.anyOf[${i}]: type inside anyOf`);
  }
  for (const [name, child] of Object.entries(schema.properties || {})) problems.push(...structuralProblems(child, `${where}.${name}`));
  if (schema.items) problems.push(...structuralProblems(schema.items, `${where}[]`));
  if (typeof schema.additionalProperties === 'object') problems.push(...structuralProblems(schema.additionalProperties, `${where}.*`));
  return problems;
}

function resolveRef(node, root) {
  if (!node || !node.$ref) return node;
  const { $ref, ...siblings } = node;
  return resolveRef({ ...root.definitions[$ref.replace('#/definitions/', '')], ...siblings }, root);
}

// Where the CRD's spec schema and the chart's values schema disagree: property names and types.
function mirrorProblems(values, spec, root = values, where = 'spec') {
  const v = resolveRef(values, root);
  const problems = [];
  if (typeof v.type === 'string' && v.type !== spec.type) problems.push(`${where}: type ${spec.type} in the CRD, ${v.type} in values.schema.json`);
  const vNames = Object.keys(v.properties || {}).sort();
  const sNames = Object.keys(spec.properties || {}).sort();
  for (const name of vNames.filter((n) => !sNames.includes(n))) problems.push(`${where}.${name}: in values.schema.json, not in the CRD`);
  for (const name of sNames.filter((n) => !vNames.includes(n))) problems.push(`${where}.${name}: in the CRD, not in values.schema.json`);
  for (const name of vNames.filter((n) => sNames.includes(n))) {
    problems.push(...mirrorProblems(v.properties[name], spec.properties[name], root, `${where}.${name}`));
  }
  if (v.items) problems.push(...mirrorProblems(v.items, spec.items || {}, root, `${where}[]`));
  if (v.enum) {
    if (JSON.stringify(v.enum) !== JSON.stringify(spec.enum)) problems.push(`${where}: enum differs`);
  }
  return problems;
}

// A SmartbyPlatform checked as the API server checks it against the CRD (the schema's value
// checks; x-kubernetes-* markers are the API server's own keywords, not validation).
const validateCr = new Ajv({ allErrors: true, strict: false }).compile(crSchema);
function resourceProblems(resource) {
  const problems = [];
  const [group, ver] = (resource.apiVersion || '').split('/');
  if (group !== crd.spec.group || ver !== version.name) problems.push(`apiVersion ${resource.apiVersion} is not ${crd.spec.group}/${version.name}`);
  if (resource.kind !== crd.spec.names.kind) problems.push(`kind ${resource.kind} is not ${crd.spec.names.kind}`);
  if (!validateCr(resource)) problems.push(...validateCr.errors.map((e) => `${e.instancePath || '/'}: ${e.message}`));
  return problems;
}

// The resource (plural) of a kind, as RBAC names it.
function plural(kind) {
  const lower = kind.toLowerCase();
  if (/(s|x|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

const MANAGE = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

// The kinds among `objects` the rules do not let the operator fully manage.
function unmanagedKinds(objects, rules) {
  const missing = new Set();
  for (const object of objects) {
    const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : '';
    const resource = plural(object.kind);
    const allowed = new Set(rules
      .filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource))
      .flatMap((r) => r.verbs));
    const lacking = MANAGE.filter((verb) => !allowed.has(verb));
    if (lacking.length > 0) missing.add(`${group || 'core'}/${resource} (${lacking.join(', ')})`);
  }
  return [...missing].sort();
}

function dockerLabels(text) {
  return Object.fromEntries([...text.matchAll(/^LABEL\s+(\S+?)=(\S+)\s*$/gm)].map(([, k, v]) => [k, v]));
}

// --- The CRD -------------------------------------------------------------------------------

test('the CRD is a valid CustomResourceDefinition (kubernetes-models) with a structural schema', () => {
  const { CustomResourceDefinition } = toolsRequire('kubernetes-models/apiextensions.k8s.io/v1');
  assert.doesNotThrow(() => new CustomResourceDefinition(crd).validate());
  assert.equal(crd.metadata.name, `${crd.spec.names.plural}.${crd.spec.group}`);
  assert.equal(crd.spec.group, 'smartby.io');
  assert.equal(version.name, 'v1alpha1');
  assert.equal(crd.spec.names.kind, 'SmartbyPlatform');
  assert.deepEqual(version.subresources, { status: {} }, 'the Helm operator writes status');
  assert.deepEqual(structuralProblems(crSchema), []);
});

test('a broken CRD is rejected: a wrong-typed field, and a schema node without a type', () => {
  const { CustomResourceDefinition } = toolsRequire('kubernetes-models/apiextensions.k8s.io/v1');
  const wrong = structuredClone(crd);
  wrong.spec.versions[0].served = 'yes';
  assert.throws(() => new CustomResourceDefinition(wrong).validate(), /served/);
  const untyped = structuredClone(crSchema);
  delete untyped.properties.spec.properties.catalogue.properties.replicaCount.type;
  assert.deepEqual(structuralProblems(untyped), ['openAPIV3Schema.spec.catalogue.replicaCount: no type']);
});

test("the CRD's spec mirrors the umbrella chart's values.schema.json", () => {
  assert.deepEqual(mirrorProblems(valuesSchema, crSchema.properties.spec), []);
  // And the check sees drift: a value the chart gained, a type it changed.
  const drifted = structuredClone(valuesSchema);
  drifted.properties.feed.properties.newSetting = { type: 'string' };
  drifted.properties.global.properties.openshift.type = 'string';
  assert.deepEqual(mirrorProblems(drifted, crSchema.properties.spec).sort(), [
    'spec.feed.newSetting: in values.schema.json, not in the CRD',
    'spec.global.openshift: type boolean in the CRD, string in values.schema.json',
  ]);
});

// --- SmartbyPlatform resources -------------------------------------------------------------

test('the sample SmartbyPlatform validates against the CRD', () => {
  assert.deepEqual(resourceProblems(sample), []);
});

const WRONG = {
  'replicaCount as a word': [(s) => { s.catalogue.replicaCount = 'two'; }, '/spec/catalogue/replicaCount: must be integer'],
  'openshift as a string': [(s) => { s.global.openshift = 'enabled'; }, '/spec/global/openshift: must be boolean'],
  'a database type the chart does not know': [(s) => { s.audit.database.type = 'mysql'; }, '/spec/audit/database/type: must be equal to one of the allowed values'],
  'a CPU limit that is not a quantity': [(s) => { s.ingestion.resources.limits.cpu = 'lots'; }, '/spec/ingestion/resources/limits/cpu: must match pattern'],
};

for (const [name, [mutate, expected]] of Object.entries(WRONG)) {
  test(`a SmartbyPlatform with ${name} is rejected, by the CRD and by the chart`, () => {
    const resource = structuredClone(sample);
    mutate(resource.spec);
    const problems = resourceProblems(resource);
    assert.ok(problems.some((p) => p.startsWith(expected)), `expected "${expected}…" among:\n${problems.join('\n')}`);
    // Had it reached the operator, helm would refuse it too (the chart's values.schema.json).
    const rendered = render('smartby', resource.spec);
    const field = expected.split(':')[0].split('/').pop();
    assert.notEqual(rendered.status, 0, 'helm template accepted the wrong spec');
    assert.match(rendered.stderr, new RegExp(`values don't meet the specifications of the schema[\\s\\S]*${field}`),
      'helm refused it for its values schema, naming the field');
  });
}

test("the sample's spec renders through the umbrella chart into valid, restricted manifests", () => {
  const objects = renderOk('smartby', sample.spec);
  assert.deepEqual(validateObjects(objects), []);
  assert.deepEqual(checkRestricted(objects), []);
  const deployments = objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort();
  assert.deepEqual(deployments, ['archive', 'audit', 'auth', 'catalogue', 'feed', 'ingestion'].map((s) => `smartby-${s}`));
  for (const kind of ['Route', 'ServiceMonitor', 'PrometheusRule', 'HorizontalPodAutoscaler', 'NetworkPolicy']) {
    assert.ok(objects.some((o) => o.kind === kind), `the sample asks for a ${kind}`);
  }
});

// --- What the operator may do --------------------------------------------------------------

test('the operator may create, change and delete every kind the chart renders', () => {
  const { rules } = readYaml('config/rbac/role.yaml');
  const objects = [sample.spec, ...Object.values(COMBOS).map(forUmbrella)].flatMap((values) => renderOk('smartby', values));
  assert.deepEqual(unmanagedKinds(objects, rules), []);
  // The check notices a missing right.
  const withoutRoutes = rules.filter((r) => !r.apiGroups.includes('route.openshift.io'));
  assert.deepEqual(unmanagedKinds(objects, withoutRoutes),
    ['route.openshift.io/routes (create, delete, get, list, patch, update, watch)']);
});

test("the operator's own manifests are valid and its pod passes restricted-v2", () => {
  const objects = ['config/default/namespace.yaml', 'config/manager/manager.yaml',
    ...fs.readdirSync(path.join(OPERATOR, 'config', 'rbac')).filter((f) => f !== 'kustomization.yaml').map((f) => `config/rbac/${f}`)]
    .flatMap(readAll);
  assert.deepEqual(validateObjects(objects), []);
  assert.deepEqual(checkRestricted(objects), []);
  const manager = objects.find((o) => o.kind === 'Deployment');
  assert.equal(manager.spec.template.spec.serviceAccountName, readYaml('config/rbac/service_account.yaml').metadata.name);
});

test('watches.yaml serves the CRD with the umbrella chart, and the image carries both', () => {
  const [watch] = readYaml('watches.yaml');
  assert.deepEqual([watch.group, watch.version, watch.kind], [crd.spec.group, version.name, crd.spec.names.kind]);
  assert.equal(watch.chart, 'helm-charts/smartby');
  const dockerfile = read('Dockerfile');
  assert.match(dockerfile, /^FROM quay\.io\/operator-framework\/helm-operator:v\d+\.\d+\.\d+$/m);
  assert.match(dockerfile, /^COPY watches\.yaml \$\{HOME\}\/watches\.yaml$/m);
  assert.match(dockerfile, /^COPY helm-charts\s+\$\{HOME\}\/helm-charts$/m);
});

// --- The OLM bundle ------------------------------------------------------------------------

test('the bundle: CSV, CRD and metadata agree with config/ and with the bundle image', () => {
  const csv = readYaml('bundle/manifests/smartby-operator.clusterserviceversion.yaml');
  const { annotations } = readYaml('bundle/metadata/annotations.yaml');
  assert.deepEqual(dockerLabels(read('bundle.Dockerfile')), annotations, 'bundle.Dockerfile LABELs = annotations.yaml');
  assert.match(read('bundle.Dockerfile'), /^COPY bundle\/manifests \/manifests\/$/m);
  assert.equal(read('bundle/manifests/smartby.io_smartbyplatforms.yaml'), read('config/crd/bases/smartby.io_smartbyplatforms.yaml'));

  assert.equal(csv.apiVersion, 'operators.coreos.com/v1alpha1');
  assert.equal(csv.kind, 'ClusterServiceVersion');
  assert.equal(csv.metadata.name, `${annotations['operators.operatorframework.io.bundle.package.v1']}.v${csv.spec.version}`);
  assert.match(csv.spec.version, /^\d+\.\d+\.\d+$/);
  assert.deepEqual(csv.spec.installModes.map((m) => m.type).sort(), ['AllNamespaces', 'MultiNamespace', 'OwnNamespace', 'SingleNamespace']);
  const [owned] = csv.spec.customresourcedefinitions.owned;
  assert.deepEqual([owned.name, owned.version, owned.kind], [crd.metadata.name, version.name, crd.spec.names.kind]);

  const { install } = csv.spec;
  assert.equal(install.strategy, 'deployment');
  const manager = readYaml('config/manager/manager.yaml');
  assert.deepEqual(install.spec.deployments[0].spec, manager.spec);
  assert.deepEqual(install.spec.clusterPermissions[0].rules, readYaml('config/rbac/role.yaml').rules);
  assert.deepEqual(install.spec.permissions[0].rules, readYaml('config/rbac/leader_election_role.yaml').rules);
  assert.equal(csv.metadata.annotations.containerImage, manager.spec.template.spec.containers[0].image);
  const { Deployment } = toolsRequire('kubernetes-models/apps/v1');
  assert.doesNotThrow(() => new Deployment({ metadata: { name: 'csv' }, spec: install.spec.deployments[0].spec }).validate());

  const examples = JSON.parse(csv.metadata.annotations['alm-examples']);
  assert.equal(examples.length, 1);
  assert.deepEqual(examples.flatMap(resourceProblems), [], 'alm-examples validate against the CRD');
});
