// The NetworkPolicy check fails when a policy allows a flow that is not in helm/flows.yaml, or
// leaves one out: shown on crafted changes to the rendered policies and on a values override
// that opens a port to every namespace.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { renderOk, flowTable } = require('./lib/context');
const { checkNetworkPolicies } = require('./lib/networkpolicy');
const { umbrellaRequired, required, NOARK5_CORE } = require('./lib/combos');

const TABLE = flowTable();

function renderedPolicy(service, values = {}) {
  return renderOk(service, values).find((o) => o.kind === 'NetworkPolicy');
}

function problemsWith(service, change) {
  const policy = structuredClone(renderedPolicy(service));
  change(policy.spec);
  return checkNetworkPolicies(TABLE, [policy]);
}

const podsOf = (name) => ({ podSelector: { matchLabels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'smartby' } } });

test('the rendered policies of every service are exactly the flow table', () => {
  const objects = renderOk('smartby', umbrellaRequired());
  assert.equal(objects.filter((o) => o.kind === 'NetworkPolicy').length, 6);
  assert.deepEqual(checkNetworkPolicies(TABLE, objects), []);
});

const CHANGES = {
  'feed may reach auth\'s metrics port': ['auth', (spec) => spec.ingress.push({ from: [podsOf('feed')], ports: [{ port: 9104, protocol: 'TCP' }] }),
    /allows feed -> auth on 9104\/TCP, which helm\/flows.yaml does not list/],
  'catalogue may call ingestion (no such flow)': ['catalogue', (spec) => spec.egress.push({ to: [podsOf('ingestion')], ports: [{ port: 7002, protocol: 'TCP' }] }),
    /allows catalogue -> ingestion on 7002\/TCP/],
  'a rule without ports': ['audit', (spec) => spec.ingress.push({ from: [podsOf('feed')] }), /allows every port/],
  'an ingress rule without sources': ['audit', (spec) => spec.ingress.push({ ports: [{ port: 7005, protocol: 'TCP' }] }), /allows every source/],
  'every namespace may scrape': ['auth', (spec) => spec.ingress.push({ from: [{ namespaceSelector: {} }], ports: [{ port: 9104, protocol: 'TCP' }] }),
    /neither a service nor an endpoint/],
  'egress anywhere on 22': ['feed', (spec) => spec.egress.push({ ports: [{ port: 22, protocol: 'TCP' }] }), /allows feed -> outside on 22\/TCP/],
  'an ipBlock into the pods': ['catalogue', (spec) => spec.ingress.push({ from: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: 7001, protocol: 'TCP' }] }),
    /allows outside -> catalogue on 7001\/TCP/],
  'a port range': ['catalogue', (spec) => spec.egress.push({ to: [podsOf('auth')], ports: [{ port: 7000, endPort: 7010, protocol: 'TCP' }] }),
    /not one numeric port/],
  'egress not denied by default': ['ingestion', (spec) => { spec.policyTypes = ['Ingress']; }, /policyTypes lacks Egress/],
  'a flow of the table left out': ['ingestion', (spec) => { spec.egress = spec.egress.filter((r) => !JSON.stringify(r).includes('"catalogue"')); },
    /flow ingestion->catalogue:7001\/TCP of helm\/flows.yaml is not allowed out of ingestion/],
};

for (const [change, [service, apply, expected]] of Object.entries(CHANGES)) {
  test(`the check fails when ${change}`, () => {
    const problems = problemsWith(service, apply);
    assert.ok(problems.some((p) => expected.test(p)), `expected a problem matching ${expected}, got ${JSON.stringify(problems)}`);
  });
}

test('a values override that opens the metrics port to every namespace is caught', () => {
  const policy = renderedPolicy('auth', { networkPolicy: { peers: { monitoring: [{ namespaceSelector: {} }] } } });
  const problems = checkNetworkPolicies(TABLE, [policy]);
  assert.ok(problems.some((p) => /neither a service nor an endpoint/.test(p)), JSON.stringify(problems));
});

test('restricting an outside endpoint to an ipBlock stays within the table', () => {
  const policy = renderedPolicy('catalogue', { networkPolicy: { peers: { postgresql: [{ ipBlock: { cidr: '10.20.0.0/24' } }] } } });
  assert.deepEqual(checkNetworkPolicies(TABLE, [policy]), []);
  assert.ok(JSON.stringify(policy.spec.egress).includes('10.20.0.0/24'));
});

// The push to the Noark 5 core: a flow with "when", opened only while noark5Core.url is set.
const pushing = { ...required('archive'), existingSecret: 'smartby-archive', noark5Core: NOARK5_CORE };
const archiveValues = (values) => (service) => (service === 'archive' ? values : {});
const toPort443 = (rule) => (rule.ports || []).some((p) => p.port === 443);

test('archive reaches the Noark 5 core and its identity provider on 443 only while the push is configured', () => {
  const off = renderedPolicy('archive', required('archive'));
  assert.ok(!off.spec.egress.some(toPort443), 'no egress on 443 without noark5Core.url');
  assert.deepEqual(checkNetworkPolicies(TABLE, [off], archiveValues(required('archive'))), []);
  const on = renderedPolicy('archive', pushing);
  assert.equal(on.spec.egress.filter(toPort443).length, 2, 'one rule for the core, one for its identity provider');
  assert.deepEqual(checkNetworkPolicies(TABLE, [on], archiveValues(pushing)), []);
});

test('the check fails when the push\'s flow is opened without the push, or left out with it', () => {
  const on = renderedPolicy('archive', pushing);
  assert.ok(checkNetworkPolicies(TABLE, [on], archiveValues(required('archive')))
    .some((p) => /allows archive -> outside on 443\/TCP, which helm\/flows.yaml does not list/.test(p)));
  const dropped = structuredClone(on);
  dropped.spec.egress = dropped.spec.egress.filter((rule) => !toPort443(rule));
  assert.ok(checkNetworkPolicies(TABLE, [dropped], archiveValues(pushing))
    .some((p) => /flow archive->noark5-core:443\/TCP of helm\/flows.yaml is not allowed out of archive/.test(p)));
});

test('the Noark 5 core can be narrowed to an ipBlock', () => {
  const values = { ...pushing, networkPolicy: { peers: { 'noark5-core': [{ ipBlock: { cidr: '10.30.0.10/32' } }] } } };
  const policy = renderedPolicy('archive', values);
  assert.deepEqual(checkNetworkPolicies(TABLE, [policy], archiveValues(values)), []);
  assert.ok(JSON.stringify(policy.spec.egress).includes('10.30.0.10/32'));
});
