// The flow table of helm/flows.yaml as Markdown, for docs/operations/network.md.
'use strict';

function destinations(table, flow) {
  return flow.to.map((to) => {
    const ports = typeof flow.port === 'string' ? [table.services[to][flow.port]] : flow.port;
    const transports = (flow.transport || ['TCP']).join('+');
    return `${to} ${ports.join(', ')}/${transports}`;
  }).join('<br>');
}

// A flow with "when" exists only while the chart value it names is set.
const onlyWhen = (flow) => (flow.when ? ` (only while \`${flow.when}\` is set)` : '');

function flowMarkdown(table) {
  const rows = table.flows.map((flow) =>
    `| ${flow.from.join(', ')} | ${destinations(table, flow)} | ${flow.protocol} | ${flow.purpose}${onlyWhen(flow)} |`);
  return ['| from | to (port/transport) | protocol | what for |', '|---|---|---|---|', ...rows].join('\n');
}

const BEGIN = '<!-- flow-table:begin (generated from helm/flows.yaml by tests/deploy/flow-table.js) -->';
const END = '<!-- flow-table:end -->';

module.exports = { flowMarkdown, BEGIN, END };
