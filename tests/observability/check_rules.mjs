#!/usr/bin/env node
// The Prometheus rules in observability/rules, checked with the real promtool:
//   1. `promtool check rules` accepts every rule file (and rejects one with a broken expression,
//      so we know the check parses PromQL);
//   2. `promtool test rules` passes the hand-written tests in tests/observability/rules and the
//      SLO tests written by slo_tests.mjs;
//   3. every alert has a test where it fires and one where it stays silent;
//   4. every alert's runbook_url leads to a section of docs/operations/monitoring.md;
//   5. a test fails when the rule it tests is weakened (the tests can fail).
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Report, promtool, repoRoot, requireTool, tempDir } from './lib.mjs';
import { writeSloTests } from './slo_tests.mjs';

const YAML = requireTool('yaml');
const report = new Report('observability rules');
const ruleDir = path.join(repoRoot, 'observability', 'rules');
const testDir = path.join(repoRoot, 'tests', 'observability', 'rules');
const ruleFiles = readdirSync(ruleDir).filter((f) => f.endsWith('.yaml')).map((f) => path.join(ruleDir, f));
const handTests = readdirSync(testDir).filter((f) => f.endsWith('_test.yaml')).map((f) => path.join(testDir, f));
const work = tempDir('smartby-rules-');

// 1. Syntax and PromQL.
for (const file of ruleFiles) {
  const { ok, output } = promtool('check', 'rules', file);
  report.check(ok, `promtool check rules ${path.relative(repoRoot, file)}:\n${output}`);
}
{
  const broken = path.join(work, 'broken.yaml');
  writeFileSync(broken, readFileSync(path.join(ruleDir, 'platform.yaml'), 'utf8').replace('== 0', '== == 0'));
  report.check(!promtool('check', 'rules', broken).ok,
    'promtool check rules accepted a rule file with a broken expression ("== == 0"): the check does not parse PromQL');
}

// 2. Unit tests.
const sloTests = writeSloTests(work);
for (const file of [...handTests, ...sloTests]) {
  const { ok, output } = promtool('test', 'rules', file);
  report.check(ok, `promtool test rules ${path.basename(file)}:\n${output}`);
}

// 3. Each alert fires in some test and stays silent in another.
const fires = new Set();
const silent = new Set();
for (const file of [...handTests, ...sloTests]) {
  for (const test of YAML.parse(readFileSync(file, 'utf8')).tests || []) {
    for (const t of test.alert_rule_test || []) {
      ((t.exp_alerts || []).length > 0 ? fires : silent).add(t.alertname);
    }
  }
}
for (const file of ruleFiles) {
  for (const group of YAML.parse(readFileSync(file, 'utf8')).groups) {
    for (const rule of group.rules.filter((r) => r.alert)) {
      const where = `${rule.alert} (${path.basename(file)})`;
      report.check(fires.has(rule.alert), `${where}: no test in which it fires`);
      report.check(silent.has(rule.alert), `${where}: no test in which it stays silent`);
      for (const key of ['summary', 'description', 'runbook_url']) {
        report.check(rule.annotations?.[key], `${where}: annotation ${key} is missing`);
      }
      report.check(['critical', 'warning', 'info'].includes(rule.labels?.severity),
        `${where}: label severity must be critical, warning or info`);
    }
  }
}

// 4. Every runbook_url points at a section of docs/operations/monitoring.md (GitHub's anchors:
// the heading in lower case, punctuation dropped, spaces as hyphens).
{
  const doc = readFileSync(path.join(repoRoot, 'docs', 'operations', 'monitoring.md'), 'utf8');
  const anchors = new Set([...doc.matchAll(/^#+\s+(.*)$/gm)]
    .map(([, heading]) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')));
  for (const file of ruleFiles) {
    for (const group of YAML.parse(readFileSync(file, 'utf8')).groups) {
      for (const rule of group.rules.filter((r) => r.alert)) {
        const anchor = (rule.annotations?.runbook_url ?? '').split('#')[1];
        report.check(anchor && anchors.has(anchor),
          `${rule.alert}: runbook_url anchor #${anchor} is not a heading of docs/operations/monitoring.md`);
      }
    }
  }
}

// 5. A weakened rule fails its test: the gaps alert made blind to gaps.
{
  const weakRules = path.join(work, 'ingestion.yaml');
  const original = readFileSync(path.join(ruleDir, 'ingestion.yaml'), 'utf8');
  const weakened = original.replace('(smartby_ingestion_missing_intervals) > 0', '(smartby_ingestion_missing_intervals) > 100');
  report.check(weakened !== original, 'the mutation test no longer finds the gaps alert in ingestion.yaml');
  writeFileSync(weakRules, weakened);
  const test = YAML.parse(readFileSync(path.join(testDir, 'ingestion_test.yaml'), 'utf8'));
  test.rule_files = [weakRules];
  const testFile = path.join(work, 'ingestion_weakened_test.yaml');
  writeFileSync(testFile, YAML.stringify(test));
  report.check(!promtool('test', 'rules', testFile).ok,
    'ingestion_test.yaml still passed with the gaps alert weakened to "> 100": it cannot fail');
}

report.finish();
