// helm lint --strict on every chart: with its defaults, and (service charts and umbrella) with
// each main value combination.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const os = require('os');
const { SERVICES, YAML, helm, chartDir } = require('./lib/context');
const { COMBOS, forUmbrella, required, umbrellaRequired } = require('./lib/combos');

function lint(chart, values) {
  const args = ['lint', '--strict', chartDir(chart)];
  if (values) {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'smartby-lint-')), 'values.yaml');
    fs.writeFileSync(file, YAML.stringify(values));
    args.push('-f', file);
  }
  const result = helm(args);
  assert.equal(result.status, 0, `helm lint --strict ${chart} failed:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
}

// Defaults, plus what a chart cannot render without (the archive's creator).
const leastValues = (chart) => (chart === 'smartby' ? umbrellaRequired() : SERVICES.includes(chart) ? required(chart) : undefined);
for (const chart of ['smartby-lib', ...SERVICES, 'smartby']) {
  test(`helm lint --strict ${chart}`, () => lint(chart, leastValues(chart)));
}

for (const [name, combo] of Object.entries(COMBOS)) {
  test(`helm lint --strict with ${name}`, () => {
    for (const service of SERVICES) lint(service, combo(service));
    lint('smartby', forUmbrella(combo));
  });
}
