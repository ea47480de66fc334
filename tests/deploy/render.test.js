// helm template of every service chart and of the umbrella with the main value combinations:
// every rendered object is valid against its API's schema, its names point at what exists
// (volumes, ports, selectors), every pod passes restricted-v2,
// the NetworkPolicies are exactly the flow table, and each toggle does what it says.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { SOURCE_DIR, SERVICES, renderOk, flowTable } = require('./lib/context');
const { COMBOS, forUmbrella, required } = require('./lib/combos');
const { validateObjects } = require('./lib/schemas');
const { checkRestricted } = require('./lib/restricted');
const { checkNetworkPolicies } = require('./lib/networkpolicy');
const { checkReferences } = require('./lib/references');

const TABLE = flowTable();
const HEALTH_PORT = 8086;

function ofService(objects, service) {
  return objects.filter((o) => ((o.metadata || {}).labels || {})['app.kubernetes.io/name'] === service);
}

function one(objects, kind) {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}, found ${found.length}`);
  return found[0];
}

function none(objects, kind) {
  assert.deepEqual(objects.filter((o) => o.kind === kind).map((o) => o.metadata.name), [], `expected no ${kind}`);
}

// Where the archive image ships the official Noark 5 XSDs: its SMARTBY_XSD_DIR in images/extras.conf.
function imageXsdDir() {
  const line = fs.readFileSync(path.join(SOURCE_DIR, 'images', 'extras.conf'), 'utf8').split('\n')
    .map((l) => l.trim().split(/\s+/)).find((f) => f[0] === 'archive' && f[1] === 'env' && f[2].startsWith('SMARTBY_XSD_DIR='));
  assert.ok(line, 'images/extras.conf sets SMARTBY_XSD_DIR for the archive image');
  return line[2].slice('SMARTBY_XSD_DIR='.length);
}

// The archive: its creator and the image's XSDs passed, its packages on a claim of their own
// (the root filesystem is read-only), one pod at a time on that volume.
function checkArchive(objects, values) {
  const deployment = one(objects, 'Deployment');
  const pod = deployment.spec.template.spec;
  const args = pod.containers[0].args;
  const config = values.config || {};
  assert.ok(args.includes(`--archive_creator_id=${config.archive_creator_id}`));
  assert.ok(args.includes(`--archive_creator_name=${config.archive_creator_name}`));
  assert.ok(args.includes(`--xsd_dir=${imageXsdDir()}`), 'the chart passes the XSD directory the image ships');
  assert.ok(args.includes('--package_dir=/var/lib/smartby-packages'));
  const mount = pod.containers[0].volumeMounts.find((m) => m.mountPath === '/var/lib/smartby-packages');
  assert.ok(mount && !mount.readOnly, 'the packages directory is a writable mount');
  const volume = pod.volumes.find((v) => v.name === mount.name);
  const claim = objects.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === 'smartby-archive-packages');
  assert.ok(claim, 'the chart makes the packages claim');
  assert.equal(volume.persistentVolumeClaim.claimName, claim.metadata.name);
  assert.equal(claim.metadata.annotations['helm.sh/resource-policy'], 'keep', 'uninstalling keeps the packages');
  assert.equal(deployment.spec.strategy.type, 'Recreate', 'one archive process at a time owns the jobs');
}

// What a platform team would check of one service's objects, given the values it was rendered with.
function checkService(objects, service, values) {
  const openshift = Boolean(values.global && values.global.openshift);
  const tls = !(values.global && values.global.tls && values.global.tls.enabled === false);
  const postgres = values.database && values.database.type === 'postgres';
  const deployment = one(objects, 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const args = container.args;
  const ports = TABLE.services[service];

  assert.equal(deployment.metadata.name, `smartby-${service}`);
  assert.ok(args.includes(`--listen=0.0.0.0:${ports.grpc}`), 'gRPC listens on its port from flows.yaml');
  assert.ok(args.includes(`--metrics_listen=0.0.0.0:${ports.metrics}`));
  const probePort = tls ? HEALTH_PORT : ports.grpc;
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    assert.deepEqual(container[probe].grpc, { port: probePort }, `${probe} is a native gRPC probe on ${probePort}`);
  }

  if (tls) {
    assert.ok(args.includes('--tls_cert=/etc/smartby/tls/tls.crt') && args.includes('--tls_key=/etc/smartby/tls/tls.key'));
    assert.ok(args.includes(`--health_listen=0.0.0.0:${HEALTH_PORT}`));
    assert.ok(!args.includes('--allow_insecure_listen'));
    assert.ok(pod.volumes.some((v) => v.secret && v.secret.secretName === `smartby-${service}-tls`));
    for (const peer of args.filter((a) => /^--[a-z]+_service=/.test(a))) {
      assert.match(peer, /=grpcs:\/\/smartby-[a-z]+\.smartby\.svc:700\d$/, 'calls between services use TLS');
    }
  } else {
    assert.ok(args.includes('--allow_insecure_listen'));
    assert.ok(!args.some((a) => a.startsWith('--tls_cert')));
  }
  const service_ = one(objects, 'Service');
  const servingCert = (service_.metadata.annotations || {})['service.beta.openshift.io/serving-cert-secret-name'];
  assert.equal(servingCert, openshift && tls ? `smartby-${service}-tls` : undefined);

  // The archive's packages have a claim of their own, whatever the database (checkArchive).
  const databaseObjects = objects.filter((o) => !(o.kind === 'PersistentVolumeClaim' && o.metadata.name.endsWith('-packages')));
  if (postgres) {
    const env = container.env.find((e) => e.name === 'SMARTBY_DATABASE');
    assert.deepEqual(env.valueFrom.secretKeyRef, { name: `smartby-${service}`, key: 'database-url' });
    assert.ok(!args.some((a) => a.startsWith('--database=')));
    none(databaseObjects, 'PersistentVolumeClaim');
    assert.equal(deployment.spec.strategy.type, service === 'archive' ? 'Recreate' : 'RollingUpdate');
  } else {
    assert.ok(args.includes(`--database=sqlite:///var/lib/smartby/${service}.db`));
    const claim = one(databaseObjects, 'PersistentVolumeClaim');
    assert.ok(pod.volumes.some((v) => v.persistentVolumeClaim && v.persistentVolumeClaim.claimName === claim.metadata.name));
    assert.equal(deployment.spec.strategy.type, 'Recreate');
  }
  const instance = (container.env || []).find((e) => e.name === 'SMARTBY_AUDIT_INSTANCE');
  assert.deepEqual(instance && instance.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } },
    'each pod is an audit producer of its own');
  if (service === 'archive') checkArchive(objects, values);
  if (values.existingSecret) {
    const mount = container.volumeMounts.find((m) => m.mountPath === '/etc/smartby/secrets');
    assert.equal(mount.readOnly, true, 'secrets are mounted read-only');
  }

  if (values.route && values.route.enabled) {
    assert.equal(one(objects, 'Route').spec.tls.termination, values.route.termination);
  } else {
    none(objects, 'Route');
  }
  if (values.ingress && values.ingress.enabled) {
    assert.equal(one(objects, 'Ingress').spec.rules[0].host, values.ingress.host);
  } else {
    none(objects, 'Ingress');
  }
  if (values.autoscaling && values.autoscaling.enabled) {
    one(objects, 'HorizontalPodAutoscaler');
    assert.equal(deployment.spec.replicas, undefined, 'the autoscaler owns the replica count');
  } else {
    none(objects, 'HorizontalPodAutoscaler');
  }

  const monitoring = Boolean(values.metrics);
  const dashboards = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels.grafana_dashboard === '1');
  if (monitoring) {
    assert.equal(one(objects, 'ServiceMonitor').spec.endpoints[0].port, 'metrics');
    assert.ok(one(objects, 'PrometheusRule').spec.groups.length > 0, 'the rules of observability/ are shipped');
    assert.equal(dashboards.length, 1);
    const dashboard = JSON.parse(Object.values(dashboards[0].data)[0]);
    assert.ok(dashboard.title && Array.isArray(dashboard.panels), 'the dashboard is Grafana JSON');
  } else {
    none(objects, 'ServiceMonitor');
    none(objects, 'PrometheusRule');
    assert.equal(dashboards.length, 0);
  }

  const policy = one(objects, 'NetworkPolicy');
  const ingressPeers = JSON.stringify(policy.spec.ingress);
  const routerSelector = openshift ? 'policy-group.network.openshift.io/ingress' : 'ingress-nginx';
  assert.ok(ingressPeers.includes(routerSelector), `clients come in through ${routerSelector}`);
}

// valuesOf(service): the values that service's chart was rendered with (for flows with "when").
function checkAll(objects, valuesOf) {
  assert.deepEqual(validateObjects(objects), [], 'every object is valid against its schema');
  assert.deepEqual(checkReferences(objects), [], 'mounts, ports and selectors point at what exists');
  assert.deepEqual(checkRestricted(objects), [], 'every pod passes restricted-v2');
  assert.deepEqual(checkNetworkPolicies(TABLE, objects, valuesOf), [], 'NetworkPolicies are exactly the flow table');
}

for (const [name, combo] of Object.entries(COMBOS)) {
  test(`umbrella chart: ${name}`, () => {
    const values = forUmbrella(combo);
    const objects = renderOk('smartby', values);
    checkAll(objects, (s) => values[s]);
    for (const service of SERVICES) checkService(ofService(objects, service), service, combo(service));
    const platform = objects.filter((o) => (o.metadata.labels || {})['app.kubernetes.io/name'] === 'platform-overview'
      || (o.metadata.labels || {})['app.kubernetes.io/name'] === 'platform');
    assert.equal(platform.length, values.platformDashboard.enabled ? 2 : 0, 'platform dashboard and rules follow their toggles');
  });
  for (const service of SERVICES) {
    test(`${service} chart: ${name}`, () => {
      const values = combo(service);
      const objects = renderOk(service, values);
      checkAll(objects, (s) => (s === service ? values : {}));
      checkService(objects, service, values);
    });
  }
}

test('a service chart disabled in the umbrella renders nothing of it', () => {
  const objects = renderOk('smartby', { archive: { enabled: false } });
  assert.equal(ofService(objects, 'archive').length, 0);
  assert.equal(ofService(objects, 'catalogue').filter((o) => o.kind === 'Deployment').length, 1);
});

test('the archive keeps its packages on an existing claim when told to', () => {
  const objects = renderOk('archive', { ...required('archive'), packages: { existingClaim: 'archive-depot' } });
  const pod = one(objects, 'Deployment').spec.template.spec;
  assert.ok(pod.volumes.some((v) => v.persistentVolumeClaim && v.persistentVolumeClaim.claimName === 'archive-depot'));
  assert.ok(!objects.some((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name.endsWith('-packages')));
});

test('auth signing keys come from their own Secret, mounted read-only as a directory', () => {
  const objects = renderOk('auth', { secretDirectories: { signing_key_file: 'auth-keys' } });
  const pod = one(objects, 'Deployment').spec.template.spec;
  const volume = pod.volumes.find((v) => v.secret && v.secret.secretName === 'auth-keys');
  const mount = pod.containers[0].volumeMounts.find((m) => m.name === volume.name);
  assert.equal(mount.readOnly, true);
  assert.ok(pod.containers[0].args.includes(`--signing_key_file=${mount.mountPath}`));
});
