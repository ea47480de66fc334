// Prometheus rule files: per service, recording rules for its error and slow-call ratios over the
// SLO windows, multi-window multi-burn-rate alerts on them (Google SRE workbook, "Alerting on
// SLOs", table 5-8), and the service's own alerts; plus the platform's alerts.
import { SERVER_ERROR_CODES, grpcServiceRegex } from './promql.mjs';
import { DEFAULT_OBJECTIVES } from './services.mjs';

export const RUNBOOK_BASE =
  'https://github.com/smartby/smartby/blob/main/docs/operations/monitoring.md';

// Buckets of grpc_server_handling_seconds (go-grpc-prometheus's defaults); a latency objective
// must sit on one of them, or the ratio could not be computed from the histogram.
const HANDLING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// A burn rate of 14.4 spends 2% of a 30-day budget in an hour, 6 spends 5% in 6 hours (both
// page); 3 spends 10% in a day and 1 spends 10% in 3 days (both a ticket). Each long window is
// paired with a short one (1/12 of it) so the alert stops soon after the burning stops.
export const BURN_ALERTS = [
  { suffix: 'BurnFast', severity: 'critical', for: '2m', windows: [['1h', '5m', 14.4], ['6h', '30m', 6]] },
  { suffix: 'BurnSlow', severity: 'warning', for: '15m', windows: [['1d', '2h', 3], ['3d', '6h', 1]] },
];
const SECONDS = { m: 60, h: 3600, d: 86400 };
const seconds = (w) => Number(w.slice(0, -1)) * SECONDS[w.slice(-1)];
const WINDOWS = [...new Set(BURN_ALERTS.flatMap((b) => b.windows.flatMap(([l, s]) => [l, s])))]
  .sort((a, b) => seconds(a) - seconds(b));

// The two SLIs, as recorded ratios of bad events; `record` names follow level:metric:operation.
export const SLIS = {
  availability: {
    title: 'Availability',
    record: (w) => `smartby_service:grpc_server_errors:ratio_rate${w}`,
    expr: (svc, w) => {
      // A code's series appears with its first call, so without any failure the numerator
      // would be missing rather than 0: "or ... * 0" makes the ratio 0, not absent.
      const sel = `grpc_service=~"${grpcServiceRegex(svc.name)}"`;
      const all = `sum by (namespace) (rate(grpc_server_handled_total{${sel}}[${w}]))`;
      return `(\n  sum by (namespace) (rate(grpc_server_handled_total{${sel}, grpc_code=~"${SERVER_ERROR_CODES}"}[${w}]))\n` +
        `  or\n  ${all} * 0\n)\n/\n${all}`;
    },
    what: (svc) => 'calls failed by the server (Internal, Unavailable, Unknown, DeadlineExceeded, DataLoss, Unimplemented)',
    anchor: 'availability-error-budget-burn',
  },
  latency: {
    title: 'Latency',
    record: (w) => `smartby_service:grpc_server_slow_unary_calls:ratio_rate${w}`,
    expr: (svc, w) => {
      const sel = `grpc_service=~"${grpcServiceRegex(svc.name)}", grpc_type="unary"`;
      return `1 - (\n  sum by (namespace) (rate(grpc_server_handling_seconds_bucket{${sel}, le="${svc.latencySeconds}"}[${w}]))\n` +
        `  /\n  sum by (namespace) (rate(grpc_server_handling_seconds_count{${sel}}[${w}]))\n)`;
    },
    what: (svc) => `unary calls slower than ${svc.latencySeconds}s`,
    anchor: 'latency-error-budget-burn',
  },
};

function capitalised(name) {
  return name[0].toUpperCase() + name.slice(1);
}

function formatNumber(x) {
  return Number(x.toPrecision(12)).toString();
}

function alertRule(a) {
  return {
    alert: a.alert,
    expr: a.expr,
    ...(a.for && a.for !== '0m' ? { for: a.for } : {}),
    labels: { severity: a.severity },
    annotations: {
      summary: a.summary,
      description: a.description,
      runbook_url: `${RUNBOOK_BASE}#${a.anchor}`,
    },
  };
}

// The service's objectives: the defaults, or its own where it sets them.
export function objectivesOf(svc) {
  return { ...DEFAULT_OBJECTIVES, ...(svc.objectives || {}) };
}

function sloGroups(svc) {
  const objectives = objectivesOf(svc);
  if (!HANDLING_BUCKETS.includes(svc.latencySeconds)) {
    throw new Error(`${svc.name}: latencySeconds ${svc.latencySeconds} is not a bucket of ` +
      `grpc_server_handling_seconds (${HANDLING_BUCKETS.join(', ')})`);
  }
  const recording = [];
  const alerts = [];
  for (const [key, sli] of Object.entries(SLIS)) {
    const budget = 1 - objectives[key];
    for (const w of WINDOWS) {
      recording.push({ record: sli.record(w), expr: sli.expr(svc, w), labels: { service: svc.name } });
    }
    for (const burn of BURN_ALERTS) {
      const on = `{service="${svc.name}"}`;
      const expr = burn.windows
        .map(([long, short, factor]) => {
          const threshold = formatNumber(factor * budget);
          return `(\n  ${sli.record(long)}${on} > ${threshold}\nand\n  ${sli.record(short)}${on} > ${threshold}\n)`;
        })
        .join('\nor\n');
      const spend = burn.windows.map(([l, s, f]) => `${f}x over ${l} and ${s}`).join(', or ');
      alerts.push(alertRule({
        alert: `Smartby${capitalised(svc.name)}${sli.title}${burn.suffix}`,
        expr,
        for: burn.for,
        severity: burn.severity,
        summary: `${svc.title} burns its ${sli.title.toLowerCase()} error budget ${burn.suffix === 'BurnFast' ? 'fast' : 'steadily'}`,
        description: `The ${svc.name} service's ${sli.what(svc)} exceed its objective (${formatNumber(objectives[key] * 100)}% over 30 days) at a burn rate of ${spend}. ` +
          `Share of bad calls over the long window that fired: {{ printf "%.3g" $value }} (the objective allows ${formatNumber(budget)}).`,
        anchor: sli.anchor,
      }));
    }
  }
  return [
    { name: `smartby-${svc.name}-slo-ratios`, rules: recording },
    { name: `smartby-${svc.name}-slo-alerts`, rules: alerts },
  ];
}

export function serviceRuleFile(svc) {
  const groups = sloGroups(svc);
  if (svc.alerts.length > 0) {
    groups.push({ name: `smartby-${svc.name}-alerts`, rules: svc.alerts.map(alertRule) });
  }
  return { groups };
}

export function platformRuleFile(alerts) {
  return { groups: [{ name: 'smartby-platform-alerts', rules: alerts.map(alertRule) }] };
}
