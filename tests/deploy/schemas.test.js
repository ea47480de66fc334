// The offline schema check can fail: objects with a fault the API server would refuse are
// reported, for each schema source (Kubernetes, Prometheus operator, our Route schema), and an
// object no schema covers is never waved through.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { renderOk } = require('./lib/context');
const { validateObject } = require('./lib/schemas');
const { checkReferences } = require('./lib/references');

const rendered = renderOk('ingestion', {
  existingSecret: 'smartby-ingestion',
  database: { type: 'postgres' },
  route: { enabled: true },
  metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } },
});
const find = (kind) => structuredClone(rendered.find((o) => o.kind === kind));

function refused(object, expected) {
  const problems = validateObject(object);
  assert.ok(problems.some((p) => expected.test(p)), `expected a problem matching ${expected}, got ${JSON.stringify(problems)}`);
}

test('the rendered objects are valid', () => {
  for (const object of rendered) assert.deepEqual(validateObject(object), []);
});

test('Kubernetes: a container port that is not a number', () => {
  const deployment = find('Deployment');
  deployment.spec.template.spec.containers[0].ports[0].containerPort = '7002';
  refused(deployment, /containerPort must be integer/);
});

test('Kubernetes: a container without a name', () => {
  const deployment = find('Deployment');
  delete deployment.spec.template.spec.containers[0].name;
  refused(deployment, /must have required property name/);
});

test('Kubernetes: a NetworkPolicy peer list that is not a list', () => {
  const policy = find('NetworkPolicy');
  policy.spec.ingress[0].from = { podSelector: {} };
  refused(policy, /from must be array/);
});

test('Prometheus operator: an alert without an expression', () => {
  const rule = find('PrometheusRule');
  rule.spec.groups[0].rules.push({ alert: 'NoExpression' });
  refused(rule, /must have required property expr/);
});

test('Prometheus operator: a ServiceMonitor endpoint with a numeric port name', () => {
  const monitor = find('ServiceMonitor');
  monitor.spec.endpoints[0].port = 9102;
  refused(monitor, /port must be string/);
});

test('OpenShift Route: an unknown termination, a misspelt field, a certificate with passthrough', () => {
  const route = find('Route');
  refused({ ...route, spec: { ...route.spec, tls: { termination: 'passthru' } } }, /termination must be equal to one of the allowed values/);
  refused({ ...route, spec: { ...route.spec, hots: 'x.example.org' } }, /must NOT have additional properties/);
  refused({ ...route, spec: { ...route.spec, tls: { termination: 'passthrough', key: 'PEM' } } }, /must NOT be valid/);
});

test('an object no schema covers is reported, not skipped', () => {
  refused({ apiVersion: 'example.org/v1', kind: 'Widget', metadata: { name: 'w' } }, /no schema for example.org\/v1 Widget/);
  refused({ apiVersion: 'apps/v1', kind: 'Deploymnt', metadata: { name: 'w' } }, /no schema for apps\/v1 Deploymnt/);
});

test('references: a mount without its volume, a Service port no container has, a selector that selects nothing', () => {
  assert.deepEqual(checkReferences(rendered), []);
  const deployment = find('Deployment');
  deployment.spec.template.spec.volumes = deployment.spec.template.spec.volumes.filter((v) => v.name !== 'tmp');
  const service = find('Service');
  service.spec.ports[0].targetPort = 'grpcs';
  const budget = find('PodDisruptionBudget');
  budget.spec.selector.matchLabels['app.kubernetes.io/name'] = 'ingestoin';
  const problems = checkReferences([deployment, service, budget]);
  for (const expected of [/mounts tmp, which is no volume/, /targetPort grpcs is no container port/, /PodDisruptionBudget\/smartby-ingestion: selects no Deployment's pods/]) {
    assert.ok(problems.some((p) => expected.test(p)), `expected ${expected} in ${JSON.stringify(problems)}`);
  }
});
