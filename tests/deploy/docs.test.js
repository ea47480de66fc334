// The operations docs say what the charts do: the network flow table in
// docs/operations/network.md is the one in helm/flows.yaml.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { SOURCE_DIR, flowTable } = require('./lib/context');
const { flowMarkdown, BEGIN, END } = require('./lib/flowdoc');

test('docs/operations/network.md holds the flow table of helm/flows.yaml', () => {
  const text = fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'operations', 'network.md'), 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  assert.ok(start >= 0 && end > start, 'network.md has the flow-table markers');
  const documented = text.slice(start + BEGIN.length, end).trim();
  assert.equal(documented, flowMarkdown(flowTable()),
    'network.md is out of date: run node tests/deploy/flow-table.js --source=. --write');
});
