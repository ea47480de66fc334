// Shared by the observability checks: running promtool, temporary directories, and a report
// that names every failure before the script exits.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { repoRoot } from '../../observability/generator/tools.mjs';

export { repoRoot, requireTool } from '../../observability/generator/tools.mjs';

// Runs promtool with `args`; returns {ok, output}.
export function promtool(...args) {
  const result = spawnSync('promtool', args, { encoding: 'utf8' });
  if (result.error) {
    throw new Error(`cannot run promtool (Debian package "prometheus"): ${result.error.message}`);
  }
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

// A temporary directory, removed when the process exits.
export function tempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Collects failures; finish() prints them and sets the exit code.
export class Report {
  constructor(name) {
    this.name = name;
    this.failures = [];
    this.passed = 0;
  }

  check(condition, message) {
    if (condition) this.passed += 1;
    else this.failures.push(message);
    return condition;
  }

  finish() {
    if (this.failures.length > 0) {
      console.error(`${this.name}: ${this.failures.length} failed:\n- ${this.failures.join('\n- ')}`);
      process.exitCode = 1;
    } else {
      console.log(`${this.name}: all ${this.passed} checks passed`);
    }
  }
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'bool',
  'offset', 'group_left', 'group_right', 'inf', 'nan', 'Inf', 'NaN']);

// The metric names an expression reads (recording rule names included), found by removing
// strings, label lists, selectors' matchers and ranges, and function calls' names.
export function metricNames(expr) {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]');
  const names = new Set();
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = bare.slice(match.index + match[0].length);
    if (/^\s*\(/.test(rest) || PROMQL_KEYWORDS.has(match[0])) continue;
    if (match.index > 0 && /[0-9.]/.test(bare[match.index - 1])) continue; // 5m, 1e3
    names.add(match[0]);
  }
  return names;
}

// The metric catalogue (observability/metrics.json) as a map name -> entry; a histogram's
// _bucket, _count and _sum series map to it too.
export function metricCatalogue() {
  const { metrics } = JSON.parse(readFileSync(path.join(repoRoot, 'observability', 'metrics.json'), 'utf8'));
  const byName = new Map();
  for (const m of metrics) {
    byName.set(m.name, m);
    if (m.type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) byName.set(m.name + s, m);
  }
  return byName;
}
