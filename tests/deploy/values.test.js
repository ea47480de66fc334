// Wrong values are refused by helm itself, with a message that names the field: by each chart's
// values.schema.json (wrong types, unknown keys, values outside their set) and by the charts'
// own checks (SQLite with more than one replica, PostgreSQL without its Secret, ...).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { SERVICES, render } = require('./lib/context');
const { NOARK5_CORE } = require('./lib/combos');

function refused(chart, values, expected) {
  const result = render(chart, values);
  assert.notEqual(result.status, 0, `helm template ${chart} accepted ${JSON.stringify(values)}`);
  assert.match(result.stderr, expected);
}

const WRONG = {
  'a string where a number belongs': [{ replicaCount: 'two' }, /replicaCount: Invalid type. Expected: integer, given: string/],
  'a quoted number': [{ autoscaling: { maxReplicas: '6' } }, /autoscaling.maxReplicas: Invalid type. Expected: integer/],
  'a string where a boolean belongs': [{ networkPolicy: { enabled: 'always' } }, /networkPolicy.enabled: Invalid type. Expected: boolean/],
  'an unknown top-level key': [{ replicas: 2 }, /Additional property replicas is not allowed/],
  'an unknown nested key': [{ image: { tagg: '1.0' } }, /image: Additional property tagg is not allowed/],
  'an unknown flag under config': [{ config: { no_such_flag: 'x' } }, /config: Additional property no_such_flag is not allowed/],
  'a database type that does not exist': [{ database: { type: 'mysql' } }, /database.type: database.type must be one of/],
  'a route termination gRPC cannot use': [{ route: { enabled: true, termination: 'edge' } }, /route.termination: route.termination must be one of/],
  'a memory limit that is no quantity': [{ resources: { limits: { memory: 'lots' } } }, /resources.limits.memory/],
  'a negative replica count': [{ replicaCount: -1 }, /replicaCount: Must be greater than or equal to 0/],
  'an image digest that is no sha256': [{ image: { digest: 'latest' } }, /image.digest: Does not match pattern/],
};

for (const [what, [values, expected]] of Object.entries(WRONG)) {
  test(`catalogue chart refuses ${what}`, () => refused('catalogue', values, expected));
}

test('every service chart refuses an unknown key', () => {
  for (const service of SERVICES) refused(service, { imagePullSecret: 'x' }, /Additional property imagePullSecret is not allowed/);
});

test('the umbrella refuses an unknown key of its own and under a service', () => {
  refused('smartby', { platfromDashboard: { enabled: true } }, /Additional property platfromDashboard is not allowed/);
  refused('smartby', { feed: { replicaCount: 'many' } }, /feed.replicaCount: Invalid type. Expected: integer/);
  refused('smartby', { audit: { existingSecrett: 'x' } }, /audit: Additional property existingSecrett is not allowed/);
  refused('smartby', { global: { openShift: true } }, /global: Additional property openShift is not allowed/);
});

test('one service\'s flags are not another\'s: feed has no mqtt_broker', () => {
  refused('feed', { config: { mqtt_broker: 'mqtt:1883' } }, /config: Additional property mqtt_broker is not allowed/);
});

test('SQLite with more than one replica is refused with the reason', () => {
  refused('ingestion', { replicaCount: 2 },
    /ingestion: replicaCount is 2 but database.type is sqlite; SQLite on a volume serves one replica only/);
});

test('SQLite with autoscaling is refused', () => {
  refused('feed', { autoscaling: { enabled: true } }, /feed: autoscaling.enabled needs database.type=postgres/);
});

test('PostgreSQL without the Secret holding its URL is refused', () => {
  refused('audit', { database: { type: 'postgres' } }, /audit: database.type is postgres, so existingSecret must name the Secret/);
});

test('a Route without TLS to the pod is refused', () => {
  refused('auth', { global: { tls: { enabled: false } }, route: { enabled: true } }, /route.enabled needs global.tls.enabled/);
});

test('an Ingress without a host is refused', () => {
  refused('catalogue', { ingress: { enabled: true } }, /ingress.enabled needs ingress.host/);
});

test('audit refuses a second replica and autoscaling (one sequencer per database)', () => {
  refused('audit', { existingSecret: 's', database: { type: 'postgres' }, replicaCount: 2 },
    /replicaCount: Must be less than or equal to 1/);
  refused('audit', { existingSecret: 's', database: { type: 'postgres' }, autoscaling: { enabled: true } },
    /autoscaling.enabled/);
});

test('archive refuses to render without its creator (arkivskaper), naming the values', () => {
  const message = /archive: config.archive_creator_id and config.archive_creator_name are required/;
  refused('archive', {}, message);
  refused('archive', { config: { archive_creator_id: '964965226' } }, message);
  refused('smartby', {}, message);
  refused('archive', { config: { archive_creator_id: '12345', archive_creator_name: 'Stavanger kommune' } },
    /config.archive_creator_id: Does not match pattern/);
});

test('archive refuses a second replica and autoscaling (one process owns the export jobs)', () => {
  const creator = { archive_creator_id: '964965226', archive_creator_name: 'Stavanger kommune' };
  refused('archive', { existingSecret: 's', database: { type: 'postgres' }, replicaCount: 2, config: creator },
    /replicaCount: Must be less than or equal to 1/);
  refused('archive', { existingSecret: 's', database: { type: 'postgres' }, autoscaling: { enabled: true }, config: creator },
    /autoscaling.enabled/);
  refused('archive', { config: { ...creator, readings_page_size: 20000 } }, /config.readings_page_size: Must be less than or equal to 10000/);
  refused('archive', { config: { ...creator, package_dir: '/tmp' } }, /config: Additional property package_dir is not allowed/);
});

test('archive refuses a push to the Noark 5 core without its credentials, or over plain http', () => {
  const creator = { archive_creator_id: '964965226', archive_creator_name: 'Stavanger kommune' };
  const complete = { ...NOARK5_CORE };
  const missing = /archive: noark5Core.url is set, so noark5Core.tokenUrl .*noark5Core.clientId .*noark5Core.clientSecretKey/;
  for (const key of ['tokenUrl', 'clientId', 'clientSecretKey']) {
    refused('archive', { existingSecret: 's', config: creator, noark5Core: { ...complete, [key]: '' } }, missing);
  }
  refused('archive', { config: creator, noark5Core: complete }, missing);
  refused('smartby', { archive: { existingSecret: 's', config: creator, noark5Core: { url: complete.url } } }, missing);
  refused('archive', { existingSecret: 's', config: creator, noark5Core: { ...complete, url: 'http://arkiv.kommune.no/' } },
    /noark5Core.url: Does not match pattern/);
  refused('archive', { existingSecret: 's', config: creator, noark5Core: { ...complete, tokenUrl: 'http://login.kommune.no/token' } },
    /noark5Core.tokenUrl: Does not match pattern/);
  refused('archive', { existingSecret: 's', config: creator, noark5Core: { ...complete, clientSecret: 'x' } },
    /noark5Core: Additional property clientSecret is not allowed/);
});
