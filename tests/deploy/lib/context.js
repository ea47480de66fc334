// What every deploy test needs: where the sources, the prepared charts and the tools are, and a
// way to run the real helm binary. Tests are run as `node <file> --source=DIR --charts=DIR`
// (see CMakeLists.txt); --charts is the copy prepare-charts.sh made, dependencies built.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { createRequire } = require('module');

function argument(name) {
  const prefix = `--${name}=`;
  const found = process.argv.find((a) => a.startsWith(prefix));
  if (!found) throw new Error(`missing argument ${prefix}DIR (see tests/deploy/CMakeLists.txt)`);
  return path.resolve(found.slice(prefix.length));
}

const SOURCE_DIR = argument('source');
const CHARTS_DIR = process.argv.some((a) => a.startsWith('--charts=')) ? argument('charts') : null;
const TOOLS_DIR = path.join(SOURCE_DIR, '.tools');
const HELM = path.join(TOOLS_DIR, 'bin', 'helm');
const SERVICES = ['catalogue', 'ingestion', 'feed', 'auth', 'audit', 'archive'];

if (!fs.existsSync(path.join(TOOLS_DIR, 'node_modules'))) {
  throw new Error(`${TOOLS_DIR}/node_modules is missing: run scripts/install-tools.sh (make deps)`);
}
// The npm packages installed by scripts/install-tools.sh.
const toolsRequire = createRequire(path.join(TOOLS_DIR, 'package.json'));
const YAML = toolsRequire('yaml');

// helm keeps its cache and config here, not in the user's home.
const HELM_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'smartby-helm-'));
process.on('exit', () => fs.rmSync(HELM_HOME, { recursive: true, force: true }));

// Runs helm; returns {status, stdout, stderr}. stderr loses helm's notes about the charts'
// symlinks (files/ links into observability/ and helm/flows.yaml are there on purpose).
function helm(args) {
  const result = spawnSync(HELM, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: {
      ...process.env,
      HELM_CACHE_HOME: path.join(HELM_HOME, 'cache'),
      HELM_CONFIG_HOME: path.join(HELM_HOME, 'config'),
      HELM_DATA_HOME: path.join(HELM_HOME, 'data'),
    },
  });
  if (result.error) throw new Error(`cannot run ${HELM}: ${result.error.message}`);
  const stderr = result.stderr.split('\n').filter((l) => !/found symbolic link in path/.test(l)).join('\n');
  return { status: result.status, stdout: result.stdout, stderr };
}

function chartDir(chart) {
  if (!CHARTS_DIR) throw new Error('this test needs --charts=DIR');
  return path.join(CHARTS_DIR, 'helm', chart);
}

// Writes values to a temporary file for `helm -f`.
function valuesFile(values) {
  const file = path.join(HELM_HOME, `values-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, JSON.stringify(values));
  return file;
}

// `helm template` of a chart with the given values; returns {status, stderr, objects}.
function render(chart, values = {}, { namespace = 'smartby' } = {}) {
  const result = helm(['template', 'smartby', chartDir(chart), '--namespace', namespace,
    '-f', valuesFile(values)]);
  const objects = result.status === 0
    ? YAML.parseAllDocuments(result.stdout).map((d) => d.toJS()).filter((o) => o) : [];
  return { status: result.status, stderr: result.stderr, objects };
}

// Like render, but a failure to render is an error that shows helm's message.
function renderOk(chart, values = {}, options = {}) {
  const result = render(chart, values, options);
  if (result.status !== 0) {
    throw new Error(`helm template ${chart} with ${JSON.stringify(values)} failed:\n${result.stderr}`);
  }
  return result.objects;
}

function flowTable() {
  return YAML.parse(fs.readFileSync(path.join(SOURCE_DIR, 'helm', 'flows.yaml'), 'utf8'));
}

module.exports = {
  SOURCE_DIR, CHARTS_DIR, TOOLS_DIR, HELM, SERVICES, YAML, toolsRequire,
  helm, chartDir, render, renderOk, flowTable,
};
