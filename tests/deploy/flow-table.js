#!/usr/bin/env node
// Prints the flow table of helm/flows.yaml as Markdown, or with --write updates the table in
// docs/operations/network.md (between its flow-table markers).
//   node tests/deploy/flow-table.js --source=. [--write]
'use strict';
const fs = require('fs');
const path = require('path');
const { SOURCE_DIR, flowTable } = require('./lib/context');
const { flowMarkdown, BEGIN, END } = require('./lib/flowdoc');

const table = flowMarkdown(flowTable());
if (!process.argv.includes('--write')) {
  console.log(table);
} else {
  const doc = path.join(SOURCE_DIR, 'docs', 'operations', 'network.md');
  const text = fs.readFileSync(doc, 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${doc}: flow-table markers not found`);
  fs.writeFileSync(doc, text.slice(0, start) + `${BEGIN}\n${table}\n` + text.slice(end));
}
