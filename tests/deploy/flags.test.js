// The flags the charts pass are flags the real services know, with values they accept: each
// service binary of the build parses the args of its rendered Deployment (plus --helpshort, so
// it stops after parsing). A renamed or removed flag in a service fails here, not in a cluster.
// Run as `node flags.test.js --source=DIR --charts=DIR --build=DIR`; exits 77 (skipped) when
// the build holds no service binary yet.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { SERVICES, renderOk } = require('./lib/context');
const { COMBOS } = require('./lib/combos');

const buildArg = process.argv.find((a) => a.startsWith('--build='));
const BUILD_DIR = buildArg ? path.resolve(buildArg.slice('--build='.length)) : null;
const binaryOf = (service) => BUILD_DIR && path.join(BUILD_DIR, 'services', service, `smartby-${service}`);
const built = SERVICES.filter((s) => BUILD_DIR && fs.existsSync(binaryOf(s)));
if (built.length === 0) {
  console.log(`# SKIP no service binaries under ${BUILD_DIR}/services (build them first)`);
  process.exit(77);
}

for (const service of SERVICES) {
  test(`${service} accepts every flag its chart renders`, { skip: built.includes(service) ? false : `no ${binaryOf(service)}` }, () => {
    for (const [name, combo] of Object.entries(COMBOS)) {
      const deployment = renderOk(service, combo(service)).find((o) => o.kind === 'Deployment');
      const args = deployment.spec.template.spec.containers[0].args;
      const run = spawnSync(binaryOf(service), [...args, '--helpshort'], { encoding: 'utf8', timeout: 20000 });
      assert.ok(!run.error, `cannot run ${binaryOf(service)}: ${run.error}`);
      const complaints = run.stderr.split('\n').filter((l) => /^ERROR|Unknown command line flag|Illegal value/.test(l));
      assert.deepEqual(complaints, [], `${service} (${name}) refuses flags of its chart: ${args.join(' ')}`);
    }
  });
}
