// The value combinations the charts are rendered with: the ways a platform team installs them.
// Each is written for one service chart; forUmbrella() turns one into the umbrella's values.
'use strict';
const { SERVICES } = require('./context');

const monitoringOn = {
  serviceMonitor: { enabled: true },
  prometheusRule: { enabled: true },
  grafanaDashboard: { enabled: true },
};

// What a chart cannot render without: who the archive's packages name as their creator.
const REQUIRED_CONFIG = {
  archive: { archive_creator_id: '964965226', archive_creator_name: 'Stavanger kommune' },
};
// The least values a chart renders with: its defaults plus what it requires.
const required = (service) => (REQUIRED_CONFIG[service] ? { config: { ...REQUIRED_CONFIG[service] } } : {});

// Every secret file of each service named, so every flag that takes one is rendered.
const ALL_SECRET_FILES = {
  catalogue: { service_client_secret_file: 'client-secret' },
  ingestion: { service_client_secret_file: 'client-secret', mqtt_password_file: 'mqtt-password', mqtt_ca: 'mqtt-ca.crt' },
  feed: {
    service_client_secret_file: 'client-secret', webhook_secret_file: 'webhook-secret',
    smtp_password_file: 'smtp-password', sms_gateway_secret_file: 'sms-gateway-secret',
  },
  auth: {
    bootstrap_admin_password_file: 'bootstrap-admin-password',
    bootstrap_admin_totp_secret_file: 'bootstrap-admin-totp-secret',
  },
  audit: { service_client_secret_file: 'client-secret', checkpoint_key_file: 'checkpoint-key' },
  archive: { service_client_secret_file: 'client-secret' },
};
const ALL_CONFIG = {
  catalogue: { dcat_title: 'Smartby', dcat_publisher: 'Smartby kommune', dcat_publisher_orgnr: '123456789' },
  ingestion: { mqtt_broker: 'mqtt.example.org:8883', mqtt_username: 'smartby' },
  feed: { smtp_server: 'smtp.example.org:587', smtp_from: 'alarm@example.org', smtp_username: 'smartby', sms_gateway_url: 'https://sms.example.org/send' },
  auth: { bootstrap_admin: 'admin' },
  audit: { log_origin: 'smartby.kommune.no/audit' },
  archive: {
    ...REQUIRED_CONFIG.archive, archive_title: 'Smartby Stavanger', default_arkivdel: 'Sensordata',
    export_workers: 2, max_queued_exports: 8, platform_call_timeout: '1m30s', readings_page_size: 10000,
  },
};
const ALL_SECRET_DIRECTORIES = {
  auth: { signing_key_file: 'smartby-auth-signing-keys', secrets_key_file: 'smartby-auth-secrets-keys' },
};
// The archive's push to the municipality's Noark 5 core, every value set (client secret from
// existingSecret, the core's CA from a Secret of its own).
const NOARK5_CORE = {
  url: 'https://arkiv.kommune.no/noark5v5/', arkivdel: 'Sensordata 2026',
  tokenUrl: 'https://login.kommune.no/realms/arkiv/protocol/openid-connect/token',
  clientId: 'smartby-archive', clientSecretKey: 'noark5-client-secret', scope: 'noark5',
  timeout: '5m', caSecret: 'noark5-core-ca', caKey: 'ca.crt',
};

// The audit log runs one replica per database (one sequencer), and one archive process owns the
// export jobs; their charts refuse more.
const scalable = (service) => service !== 'audit' && service !== 'archive';

// name -> function(service) -> values of that service's chart.
const COMBOS = {
  'kubernetes, sqlite trial, defaults': (service) => required(service),
  'kubernetes, postgres, ingress, monitoring': (service) => ({
    existingSecret: `smartby-${service}`,
    database: { type: 'postgres' },
    replicaCount: scalable(service) ? 3 : 1,
    ingress: { enabled: true, host: `${service}.smartby.example.org` },
    metrics: monitoringOn,
    secretFiles: ALL_SECRET_FILES[service],
    config: ALL_CONFIG[service],
    secretDirectories: ALL_SECRET_DIRECTORIES[service] || {},
    ...(service === 'archive' ? { noark5Core: NOARK5_CORE } : {}),
  }),
  'openshift, postgres, route passthrough, monitoring, autoscaling': (service) => ({
    global: { openshift: true },
    existingSecret: `smartby-${service}`,
    database: { type: 'postgres' },
    autoscaling: { enabled: scalable(service), minReplicas: 2, maxReplicas: 4 },
    route: { enabled: true, termination: 'passthrough' },
    metrics: monitoringOn,
    ...required(service),
  }),
  'openshift, sqlite trial, route reencrypt, monitoring off': (service) => ({
    global: { openshift: true },
    route: { enabled: true, termination: 'reencrypt' },
    ...required(service),
  }),
  'kubernetes, behind a mesh without TLS, postgres': (service) => ({
    global: { tls: { enabled: false } },
    existingSecret: `smartby-${service}`,
    database: { type: 'postgres' },
    ...required(service),
  }),
};

// The umbrella's values for a combination: globals once, each service's values under its name.
function forUmbrella(combo) {
  const values = { platformDashboard: { enabled: false }, platformRules: { enabled: false } };
  for (const service of SERVICES) {
    const { global, ...own } = combo(service);
    if (global) values.global = global;
    values[service] = own;
    if (own.metrics) {
      values.platformDashboard.enabled = true;
      values.platformRules.enabled = true;
    }
  }
  return values;
}

// The umbrella's values with every service's defaults plus what it requires.
const umbrellaRequired = () => Object.fromEntries(SERVICES.filter((s) => REQUIRED_CONFIG[s]).map((s) => [s, required(s)]));

module.exports = { COMBOS, NOARK5_CORE, forUmbrella, required, umbrellaRequired };
