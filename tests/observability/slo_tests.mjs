// promtool unit tests of every service's SLO burn-rate alerts, written out per service (the
// same three scenarios for each, so they are made here rather than copied six times):
//   paging:   5% of calls fail and 5% of unary calls are slow for 70 minutes -> both the fast
//             (page) and the slow (ticket) burn alerts fire;
//   steady:   0.5% for 25 hours -> burn rate 5: the ticket fires, the page does not;
//   healthy:  0.05% server errors, many client errors (InvalidArgument) and slow streaming
//             calls -> nothing fires (client errors and streams are outside the objectives);
//   no errors: the recorded availability ratio is 0 (not missing, as a bare division would be).
// Expected annotations are the rule's own text with the value the alert reports filled in.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, requireTool } from './lib.mjs';
import { SERVICES } from '../../observability/generator/services.mjs';

const YAML = requireTool('yaml');
const capitalised = (s) => s[0].toUpperCase() + s.slice(1);

// Go's %.3g for the ratios used here (between 0.0001 and 1).
const formatRatio = (v) => Number(v.toPrecision(3)).toString();

function series(svc, { ok, serverErrors, clientErrors, fast, slowStreams }, samples) {
  const labels = (type, extra = '') =>
    `grpc_service="smartcity.${svc.name}.v1.TestService", grpc_method="Get", grpc_type="${type}"${extra}`;
  const counter = (perMinute) => `0+${perMinute}x${samples}`;
  const list = [
    [`grpc_server_handled_total{${labels('unary', ', grpc_code="OK"')}}`, counter(ok)],
    [`grpc_server_handled_total{${labels('unary', ', grpc_code="Internal"')}}`, counter(serverErrors)],
    [`grpc_server_handling_seconds_count{${labels('unary')}}`, counter(ok + serverErrors)],
    [`grpc_server_handling_seconds_bucket{${labels('unary', `, le="${svc.latencySeconds}"`)}}`, counter(fast)],
  ];
  if (clientErrors) {
    list.push([`grpc_server_handled_total{${labels('unary', ', grpc_code="InvalidArgument"')}}`, counter(clientErrors)]);
  }
  if (slowStreams) {
    list.push([`grpc_server_handling_seconds_count{${labels('server_stream')}}`, counter(slowStreams)]);
    list.push([`grpc_server_handling_seconds_bucket{${labels('server_stream', `, le="${svc.latencySeconds}"`)}}`, counter(0)]);
  }
  return list.map(([s, values]) => ({ series: s, values }));
}

// The four burn-rate alerts of a service, as written in its rule file.
function burnAlerts(ruleFile) {
  const rules = ruleFile.groups.flatMap((g) => g.rules).filter((r) => /Burn(Fast|Slow)$/.test(r.alert || ''));
  return new Map(rules.map((r) => [r.alert, r]));
}

function expected(rule, svc, ratio) {
  const annotations = {};
  for (const [k, v] of Object.entries(rule.annotations)) {
    annotations[k] = v.replace('{{ printf "%.3g" $value }}', formatRatio(ratio));
  }
  return [{ exp_labels: { ...rule.labels, service: svc.name }, exp_annotations: annotations }];
}

// Tests evaluated every minute, and the day-long one every 5 minutes (samples 5 minutes apart
// still give the 5m window two points), which keeps it fast.
function serviceTests(svc, rules) {
  const name = (sli, speed) => `Smartby${capitalised(svc.name)}${sli}Burn${speed}`;
  const expect = (evalTime, firing, ratio) =>
    ['Availability', 'Latency'].flatMap((sli) => ['Fast', 'Slow'].map((speed) => {
      const alertname = name(sli, speed);
      const rule = rules.get(alertname);
      if (!rule) throw new Error(`observability/rules/${svc.name}.yaml has no alert ${alertname}`);
      return { eval_time: evalTime, alertname, exp_alerts: firing[speed] ? expected(rule, svc, ratio) : [] };
    }));
  const steady = {
    name: `${svc.name}: 0.5% bad calls for 25 hours open a ticket and do not page`,
    interval: '5m',
    input_series: series(svc, { ok: 5 * 199, serverErrors: 5, fast: 5 * 199 }, 310),
    alert_rule_test: expect('25h', { Fast: false, Slow: true }, 0.005),
  };
  const minutely = [
    {
      name: `${svc.name}: 5% bad calls for 70 minutes page and open a ticket`,
      interval: '1m',
      input_series: series(svc, { ok: 95, serverErrors: 5, fast: 95 }, 80),
      alert_rule_test: expect('70m', { Fast: true, Slow: true }, 0.05),
    },
    {
      name: `${svc.name}: 0.05% server errors, client errors and slow streams alert nothing`,
      interval: '1m',
      input_series: series(svc, { ok: 1999, serverErrors: 1, fast: 1999, clientErrors: 500, slowStreams: 100 }, 80),
      alert_rule_test: expect('70m', { Fast: false, Slow: false }, 0),
    },
  ];
  const record = 'smartby_service:grpc_server_errors:ratio_rate5m';
  minutely.push({
    name: `${svc.name}: without a single server error the availability ratio is 0, not missing`,
    interval: '1m',
    input_series: series(svc, { ok: 100, serverErrors: 0, fast: 100 }, 20).filter((x) => !x.series.includes('Internal')),
    promql_expr_test: [{ expr: record, eval_time: '10m', exp_samples: [{ labels: `${record}{service="${svc.name}"}`, value: 0 }] }],
  });
  return { '1m': minutely, '5m': [steady] };
}

// Writes the test files of every service into `dir`; returns their paths.
export function writeSloTests(dir, ruleDir = path.join(repoRoot, 'observability', 'rules')) {
  return SERVICES.flatMap((svc) => {
    const ruleFile = path.join(ruleDir, `${svc.name}.yaml`);
    const rules = burnAlerts(YAML.parse(readFileSync(ruleFile, 'utf8')));
    return Object.entries(serviceTests(svc, rules)).map(([interval, tests]) => {
      const file = path.join(dir, `${svc.name}_slo_${interval}_test.yaml`);
      writeFileSync(file, YAML.stringify({ rule_files: [ruleFile], evaluation_interval: interval, tests },
        { lineWidth: 0 }));
      return file;
    });
  });
}
