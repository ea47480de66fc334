#!/usr/bin/env node
// The Grafana dashboards in observability/dashboards:
//   - one per service and the platform overview, each with a unique uid, the data source as a
//     template variable and every panel and query using it;
//   - every PromQL query (panel targets and the variables' label_values selectors, with the
//     Grafana variables filled in) parsed by the real promtool, one rule per query; a dashboard
//     with a broken query is rejected (so the check parses, it does not just read JSON);
//   - every metric a dashboard or rule reads is in observability/metrics.json or recorded by a
//     rule (a misspelt metric shows no data and alerts never fire), and the catalogue entries are
//     used.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Report, metricCatalogue, metricNames, promtool, repoRoot, requireTool, tempDir } from './lib.mjs';
import { SERVICES } from '../../observability/generator/services.mjs';

const YAML = requireTool('yaml');
const report = new Report('observability dashboards');
const dashboardDir = path.join(repoRoot, 'observability', 'dashboards');
const ruleDir = path.join(repoRoot, 'observability', 'rules');
const work = tempDir('smartby-dashboards-');

// Grafana fills these in before the query reaches Prometheus; any valid value will do here.
function withVariablesFilled(expr) {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, '5m')
    .replace(/\$\{(\w+)(:[a-z]+)?\}|\$(\w+)/g, 'value');
}

// Every query of a dashboard: [where, expr].
function queries(dashboard) {
  const list = [];
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const text = typeof v.query === 'string' ? v.query : v.query?.query;
    const selector = /^label_values\((.*),\s*\w+\)$/.exec(text ?? '');
    if (report.check(selector, `variable ${v.name}: query "${text}" is not label_values(<selector>, <label>)`)) {
      list.push([`variable ${v.name}`, selector[1]]);
    }
  }
  for (const panel of dashboard.panels ?? []) {
    for (const target of panel.targets ?? []) {
      list.push([`panel "${panel.title}" query ${target.refId}`, target.expr]);
    }
  }
  return list;
}

// Parses every query with promtool as the expression of a recording rule; returns the queries
// promtool rejects (checked one by one once the whole file fails, to name them).
function rejectedQueries(name, list) {
  const ruleFile = (items) => {
    const file = path.join(work, `${name}.rules.yaml`);
    const rules = items.map(([, expr], i) => ({ record: `dashboard_query:${i}`, expr: withVariablesFilled(expr) }));
    writeFileSync(file, YAML.stringify({ groups: [{ name, rules }] }));
    return file;
  };
  if (promtool('check', 'rules', ruleFile(list)).ok) return [];
  return list
    .map((item) => [item, promtool('check', 'rules', ruleFile([item]))])
    .filter(([, result]) => !result.ok)
    .map(([[where, expr], result]) => `${where}: ${expr}\n${result.output.trim()}`);
}

function checkStructure(file, d) {
  const where = path.basename(file);
  report.check(d.uid && d.title && d.schemaVersion, `${where}: uid, title and schemaVersion are required`);
  const ds = (d.templating?.list ?? []).find((v) => v.type === 'datasource');
  report.check(ds?.query === 'prometheus' && ds.name === 'datasource',
    `${where}: needs a template variable "datasource" of type datasource for prometheus`);
  for (const panel of d.panels ?? []) {
    if (panel.type === 'row') continue;
    report.check(panel.datasource?.uid === '${datasource}', `${where}: panel "${panel.title}" does not use the $datasource variable`);
    report.check(panel.description, `${where}: panel "${panel.title}" has no description`);
    report.check((panel.targets ?? []).length > 0, `${where}: panel "${panel.title}" has no query`);
    for (const t of panel.targets ?? []) {
      report.check(t.datasource?.uid === '${datasource}' && t.expr, `${where}: panel "${panel.title}" query ${t.refId} lacks an expr or the $datasource variable`);
    }
  }
}

// --- The dashboards ---
const files = readdirSync(dashboardDir).filter((f) => f.endsWith('.json'));
const expectedFiles = [...SERVICES.map((s) => `${s.name}.json`), 'platform-overview.json'];
for (const f of expectedFiles) report.check(files.includes(f), `observability/dashboards/${f} is missing`);

const uids = new Map();
const used = new Map(); // metric name -> where it is first used
for (const f of files) {
  const file = path.join(dashboardDir, f);
  let dashboard;
  try {
    dashboard = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    report.check(false, `${f}: not valid JSON: ${e.message}`);
    continue;
  }
  checkStructure(file, dashboard);
  report.check(!uids.has(dashboard.uid), `${f}: uid ${dashboard.uid} is also the uid of ${uids.get(dashboard.uid)}`);
  uids.set(dashboard.uid, f);
  const list = queries(dashboard);
  for (const problem of rejectedQueries(path.basename(f, '.json'), list)) report.check(false, `${f}: promtool rejects ${problem}`);
  for (const [where, expr] of list) {
    for (const name of metricNames(withVariablesFilled(expr))) if (!used.has(name)) used.set(name, `${f} ${where}`);
  }
}

// --- Negative: the same check rejects a broken query and names it ---
{
  const rejected = rejectedQueries('negative', [
    ['panel "good"', 'sum(rate(grpc_server_handled_total{job=~"$job"}[$__rate_interval]))'],
    ['panel "broken"', 'sum(rate(grpc_server_handled_total{job=~"$job"}[$__rate_interval])'],
  ]);
  report.check(rejected.length === 1 && rejected[0].startsWith('panel "broken"'),
    `a dashboard query with an unclosed parenthesis must be rejected, alone: got ${JSON.stringify(rejected)}`);
}

// --- Metric names in dashboards and rules ---
const recorded = new Set();
for (const f of readdirSync(ruleDir).filter((x) => x.endsWith('.yaml'))) {
  for (const group of YAML.parse(readFileSync(path.join(ruleDir, f), 'utf8')).groups) {
    for (const rule of group.rules) {
      if (rule.record) recorded.add(rule.record);
      for (const name of metricNames(rule.expr)) if (!used.has(name)) used.set(name, `${f} ${rule.record || rule.alert}`);
    }
  }
}
const catalogue = metricCatalogue();
for (const [name, where] of used) {
  report.check(catalogue.has(name) || recorded.has(name),
    `${where} reads "${name}", which is neither in observability/metrics.json nor recorded by a rule`);
}
for (const [name, entry] of catalogue) {
  if (name === entry.name) {
    const usedSomehow = [name, `${name}_bucket`, `${name}_count`, `${name}_sum`].some((n) => used.has(n));
    report.check(usedSomehow, `observability/metrics.json lists ${name}, which no dashboard or rule uses`);
  }
}

report.finish();
