// Grafana dashboard JSON (schemaVersion 39, the format Grafana 10/11 saves), built from a list
// of sections of panels. The data source is a template variable, so one dashboard works with
// whichever Prometheus a cluster's Grafana has.
import { SERVER_ERROR_CODES, grpcServiceRegex, jobRegex } from './promql.mjs';
import { SLIS, objectivesOf } from './rules.mjs';
import { DEFAULT_OBJECTIVES } from './services.mjs';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const PANEL_HEIGHT = 8;
const GRID_WIDTH = 24;

function variable(name, label, query, { multi = true } = {}) {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: query,
    query: { query, refId: `${name}-variable` },
    refresh: 2, // on time range change
    includeAll: true,
    multi,
    allValue: '.+',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
    hide: 0,
  };
}

function templating(extra) {
  return {
    list: [
      {
        name: 'datasource',
        label: 'Data source',
        type: 'datasource',
        query: 'prometheus',
        current: {},
        refresh: 1,
        regex: '',
        hide: 0,
      },
      ...extra,
    ],
  };
}

function timeseries(panel, id, gridPos) {
  return {
    id,
    type: 'timeseries',
    title: panel.title,
    description: panel.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: {
      defaults: {
        unit: panel.unit,
        min: panel.min ?? 0,
        custom: { fillOpacity: panel.stack ? 30 : 10, stacking: { mode: panel.stack ? 'normal' : 'none' } },
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } },
    targets: panel.targets.map(([expr, legendFormat], i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr,
      legendFormat,
      range: true,
    })),
  };
}

// Lays sections out top to bottom: a collapsible row per section, then its panels two abreast.
function layout(sections) {
  const panels = [];
  let id = 1;
  let y = 0;
  for (const section of sections) {
    panels.push({ id: id++, type: 'row', title: section.title, collapsed: false, gridPos: { h: 1, w: GRID_WIDTH, x: 0, y }, panels: [] });
    y += 1;
    const width = section.width ?? 12;
    const perRow = GRID_WIDTH / width;
    section.panels.forEach((panel, i) => {
      const gridPos = { h: PANEL_HEIGHT, w: width, x: (i % perRow) * width, y: y + Math.floor(i / perRow) * PANEL_HEIGHT };
      panels.push(timeseries(panel, id++, gridPos));
    });
    y += Math.ceil(section.panels.length / perRow) * PANEL_HEIGHT;
  }
  return panels;
}

function dashboard({ uid, title, description, variables, sections }) {
  return {
    uid,
    title,
    description,
    tags: ['smartby'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    timezone: 'utc',
    time: { from: 'now-6h', to: 'now' },
    refresh: '1m',
    links: [{ title: 'Smartby dashboards', type: 'dashboards', tags: ['smartby'], asDropdown: true, includeVars: false, keepTime: true }],
    annotations: { list: [] },
    templating: templating(variables),
    panels: layout(sections),
  };
}

// --- Sections every service dashboard has ----------------------------------------------------

const SEL = 'job=~"$job", instance=~"$instance"';

function grpcSection(svc) {
  const sel = `${SEL}, grpc_service=~"${grpcServiceRegex(svc.name)}"`;
  const rate = (m, extra = '') => `rate(${m}{${sel}${extra}}[$__rate_interval])`;
  return {
    title: 'gRPC calls',
    panels: [
      {
        title: 'Calls/s by method',
        description: 'Finished calls per second (health checks and reflection excluded).',
        unit: 'reqps',
        targets: [[`sum by (grpc_method) (${rate('grpc_server_handled_total')})`, '{{grpc_method}}']],
      },
      {
        title: 'Errors/s by method and code',
        description: 'Calls that ended with a code other than OK. Server errors count against the availability objective; client errors (InvalidArgument, NotFound, PermissionDenied, ...) do not.',
        unit: 'reqps',
        targets: [[`sum by (grpc_method, grpc_code) (${rate('grpc_server_handled_total', ', grpc_code!="OK"')})`, '{{grpc_method}} {{grpc_code}}']],
      },
      {
        title: 'Latency p99 by method (unary calls)',
        description: `99th percentile of the time to answer a unary call; the objective counts calls slower than ${svc.latencySeconds}s.`,
        unit: 's',
        targets: [[`histogram_quantile(0.99, sum by (grpc_method, le) (${rate('grpc_server_handling_seconds_bucket', ', grpc_type="unary"')}))`, '{{grpc_method}}']],
      },
      {
        title: 'Calls in progress (open streams) by method',
        description: 'Started minus finished calls: for streaming methods, the open streams.',
        unit: 'short',
        targets: [[`sum by (grpc_method) (grpc_server_started_total{${sel}}) - sum by (grpc_method) (grpc_server_handled_total{${sel}})`, '{{grpc_method}}']],
      },
      {
        title: 'Stream messages/s by method',
        description: 'Messages received and sent on streaming calls (readings written, updates delivered).',
        unit: 'ops',
        targets: [
          [`sum by (grpc_method) (${rate('grpc_server_msg_received_total')})`, 'received {{grpc_method}}'],
          [`sum by (grpc_method) (${rate('grpc_server_msg_sent_total')})`, 'sent {{grpc_method}}'],
        ],
      },
      {
        title: 'Error budget burn rate (1h)',
        description: 'How fast the service spends its 30-day error budget: 1 spends it exactly in 30 days; the fast-burn alert fires above 14.4 (with the 5m window agreeing).',
        unit: 'short',
        targets: Object.entries(SLIS).map(([key, sli]) => [
          `${sli.record('1h')}{service="${svc.name}"} / (1 - ${objectivesOf(svc)[key]})`,
          sli.title.toLowerCase(),
        ]),
      },
    ],
  };
}

function outboxSection() {
  return {
    title: 'Audit outbox (events on their way to the audit log)',
    panels: [
      {
        title: 'Outbox depth',
        description: 'Audit events stored locally and not yet acknowledged by the audit service.',
        unit: 'short',
        targets: [[`max by (instance) (smartby_audit_outbox_depth{${SEL}})`, '{{instance}}']],
      },
      {
        title: 'Oldest event in the outbox',
        description: 'Age of the oldest waiting event (0 when the outbox is empty).',
        unit: 's',
        targets: [[`max by (instance) (smartby_audit_outbox_oldest_age_seconds{${SEL}})`, '{{instance}}']],
      },
      {
        title: 'Events shipped/s and failures',
        description: 'Events the audit service acknowledged; batches that failed (retried); events that could not even be stored locally.',
        unit: 'ops',
        targets: [
          [`sum(rate(smartby_audit_events_shipped_total{${SEL}}[$__rate_interval]))`, 'shipped'],
          [`sum(rate(smartby_audit_ship_failures_total{${SEL}}[$__rate_interval]))`, 'failed batches (retried)'],
          [`sum(rate(smartby_audit_record_failures_total{${SEL}}[$__rate_interval]))`, 'not recorded'],
        ],
      },
    ],
  };
}

function processSection(sel = SEL, by = 'instance') {
  return {
    title: 'Saturation (process)',
    panels: [
      {
        title: 'CPU (cores)',
        description: 'CPU time used per second.',
        unit: 'short',
        targets: [[`sum by (${by}) (rate(process_cpu_seconds_total{${sel}}[$__rate_interval]))`, `{{${by}}}`]],
      },
      {
        title: 'Resident memory',
        description: 'Memory in RAM.',
        unit: 'bytes',
        targets: [[`sum by (${by}) (process_resident_memory_bytes{${sel}})`, `{{${by}}}`]],
      },
      {
        title: 'Open file descriptors (share of the limit)',
        description: 'Sockets and files; at 1 the process cannot accept connections.',
        unit: 'percentunit',
        targets: [[`max by (${by}) (process_open_fds{${sel}} / process_max_fds{${sel}})`, `{{${by}}}`]],
      },
      {
        title: 'Restarts (last hour)',
        description: 'Process starts seen in the last hour: a crash loop shows here first.',
        unit: 'short',
        targets: [[`sum by (${by}) (changes(process_start_time_seconds{${sel}}[1h]))`, `{{${by}}}`]],
      },
      {
        title: 'Threads',
        description: 'OS threads.',
        unit: 'short',
        targets: [[`sum by (${by}) (process_threads{${sel}})`, `{{${by}}}`]],
      },
    ],
  };
}

export function serviceDashboard(svc) {
  return dashboard({
    uid: `smartby-${svc.name}`,
    title: `Smartby / ${svc.title}`,
    description: `The ${svc.name} service: its calls against its objectives, its own metrics, its audit outbox and its process.`,
    variables: [
      variable('job', 'Job', `label_values(up{job=~"${jobRegex(svc.name)}"}, job)`),
      variable('instance', 'Instance', 'label_values(up{job=~"$job"}, instance)'),
    ],
    sections: [
      grpcSection(svc),
      { title: svc.title, panels: svc.panels },
      outboxSection(),
      processSection(),
    ],
  });
}

export function overviewDashboard(services) {
  const jobs = `job=~"${jobRegex(...services.map((s) => s.name))}"`;
  const sel = 'job=~"$job", grpc_service=~"smartcity\\\\..+"';
  const rate = (m, extra = '') => `rate(${m}{${sel}${extra}}[$__rate_interval])`;
  return dashboard({
    uid: 'smartby-platform-overview',
    title: 'Smartby / Platform overview',
    description: 'Every Smartby service: traffic, errors, latency per service and method, objectives, saturation.',
    variables: [variable('job', 'Job', `label_values(up{${jobs}}, job)`)],
    sections: [
      {
        title: 'Services',
        panels: [
          {
            title: 'Targets up',
            description: 'Scrape targets that answer (1) or not (0), per job.',
            unit: 'short',
            targets: [[`sum by (job) (up{job=~"$job"})`, '{{job}} up'], [`count by (job) (up{job=~"$job"} == 0)`, '{{job}} down']],
          },
          {
            title: 'Error budget burn rate (1h), per service',
            description: 'Availability and latency, against the default objectives: 1 spends the 30-day budget in exactly 30 days; 14.4 pages.',
            unit: 'short',
            targets: Object.entries(SLIS).map(([key, sli]) => [`${sli.record('1h')} / (1 - ${DEFAULT_OBJECTIVES[key]})`, `{{service}} ${sli.title.toLowerCase()}`]),
          },
        ],
      },
      {
        title: 'Calls per service and method',
        width: 24,
        panels: [
          {
            title: 'Calls/s',
            description: 'Finished calls per second.',
            unit: 'reqps',
            targets: [[`sum by (grpc_service, grpc_method) (${rate('grpc_server_handled_total')})`, '{{grpc_service}}/{{grpc_method}}']],
          },
          {
            title: 'Server errors (share of calls)',
            description: `Calls that ended ${SERVER_ERROR_CODES.split('|').join(', ')}.`,
            unit: 'percentunit',
            targets: [[`sum by (grpc_service, grpc_method) (${rate('grpc_server_handled_total', `, grpc_code=~"${SERVER_ERROR_CODES}"`)}) / sum by (grpc_service, grpc_method) (${rate('grpc_server_handled_total')})`, '{{grpc_service}}/{{grpc_method}}']],
          },
          {
            title: 'Latency p99 (unary calls)',
            description: '99th percentile of the time to answer a unary call.',
            unit: 's',
            targets: [[`histogram_quantile(0.99, sum by (grpc_service, grpc_method, le) (${rate('grpc_server_handling_seconds_bucket', ', grpc_type="unary"')}))`, '{{grpc_service}}/{{grpc_method}}']],
          },
        ],
      },
      {
        title: 'Saturation',
        panels: [
          {
            title: 'Calls in progress (open streams), per job',
            description: 'Started minus finished calls.',
            unit: 'short',
            targets: [[`sum by (job) (grpc_server_started_total{${sel}}) - sum by (job) (grpc_server_handled_total{${sel}})`, '{{job}}']],
          },
          {
            title: 'Audit outbox depth, per job',
            description: 'Audit events waiting to reach the audit log.',
            unit: 'short',
            targets: [[`sum by (job) (smartby_audit_outbox_depth{job=~"$job"})`, '{{job}}']],
          },
          ...processSection('job=~"$job"', 'job').panels,
        ],
      },
    ],
  });
}
