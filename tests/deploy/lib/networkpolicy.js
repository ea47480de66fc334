// Checks rendered NetworkPolicies against the platform's flow table (helm/flows.yaml):
//   - every flow a policy allows must be in the table (source, destination, port, transport);
//   - every flow of the table that touches a rendered service must be allowed (so the policies
//     are exactly the table: nothing more, nothing missing);
//   - each service's pods are selected for both Ingress and Egress (default deny);
//   - a flow with "when" counts only while the chart value it names is set.
// A peer is named by matching it against the table: a pod selector naming a service, or one of
// the selectors the table gives for ingress, monitoring and DNS; a rule without peers, or an
// ipBlock, reaches "outside", allowed only towards endpoints the table gives no selector.
'use strict';

const NAME_LABEL = 'app.kubernetes.io/name';

function sameJson(a, b) {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
}

// The value at a dotted path ("noark5Core.url") of a chart's values, or undefined.
function valueAt(values, dotted) {
  return dotted.split('.').reduce((v, key) => (v && typeof v === 'object' ? v[key] : undefined), values);
}

// A flow with "when" exists only while the chart value it names is set in the values of the
// chart of one of its two ends (valuesOf(service): the values that chart was rendered with).
function flowApplies(flow, from, to, valuesOf) {
  return !flow.when || [from, to].some((service) => Boolean(valueAt(valuesOf(service) || {}, flow.when)));
}

// "from->to:port/transport" for every flow of the table that applies with these values.
function allowedFlows(table, valuesOf = () => ({})) {
  const allowed = new Set();
  for (const flow of table.flows) {
    for (const from of flow.from) {
      for (const to of flow.to) {
        if (from === to || !flowApplies(flow, from, to, valuesOf)) continue;
        const ports = typeof flow.port === 'string' ? [table.services[to][flow.port]] : flow.port;
        for (const transport of flow.transport || ['TCP']) {
          for (const port of ports) allowed.add(`${from}->${to}:${port}/${transport}`);
        }
      }
    }
  }
  return allowed;
}

// The table's name for a NetworkPolicy peer: a service, an endpoint, "outside" or null.
function peerName(table, peer) {
  if (peer.ipBlock) return 'outside';
  if (peer.podSelector && !peer.namespaceSelector) {
    const labels = peer.podSelector.matchLabels || {};
    const name = labels[NAME_LABEL];
    const onlyOurLabels = Object.keys(labels).every((k) => k === NAME_LABEL || k === 'app.kubernetes.io/part-of');
    if (name && table.services[name] && onlyOurLabels && !peer.podSelector.matchExpressions) return name;
    return null;
  }
  for (const [endpoint, spec] of Object.entries(table.endpoints)) {
    for (const selector of Object.values(spec.selector || {})) {
      if (sameJson(selector, peer)) return endpoint;
    }
  }
  return null;
}

// Endpoints the table reaches "outside" (no selector): postgresql, mqtt-broker, ...
function outsideEndpoints(table) {
  return Object.entries(table.endpoints).filter(([, spec]) => !spec.selector).map(([name]) => name);
}

function ruleFlows(table, rule, peersKey, service, direction, where, problems) {
  const flows = [];
  const ports = rule.ports || [];
  if (ports.length === 0) {
    problems.push(`${where}: a rule allows every port`);
    return flows;
  }
  const peers = rule[peersKey];
  const names = [];
  if (!peers || peers.length === 0) {
    if (direction === 'ingress') {
      problems.push(`${where}: an ingress rule allows every source`);
      return flows;
    }
    names.push('outside');
  } else {
    for (const peer of peers) {
      const name = peerName(table, peer);
      if (!name) problems.push(`${where}: peer ${JSON.stringify(peer)} is neither a service nor an endpoint of helm/flows.yaml`);
      else names.push(name);
    }
  }
  for (const name of names) {
    for (const port of ports) {
      if (typeof port.port !== 'number' || port.endPort !== undefined) {
        problems.push(`${where}: port ${JSON.stringify(port)} is not one numeric port`);
        continue;
      }
      const transport = port.protocol || 'TCP';
      flows.push(direction === 'ingress'
        ? { from: name, to: service, port: port.port, transport }
        : { from: service, to: name, port: port.port, transport });
    }
  }
  return flows;
}

function isAllowed(table, allowed, flow) {
  const key = (from, to) => `${from}->${to}:${flow.port}/${flow.transport}`;
  if (flow.to === 'outside') {
    return outsideEndpoints(table).some((endpoint) => allowed.has(key(flow.from, endpoint)));
  }
  if (flow.from === 'outside') return false;
  return allowed.has(key(flow.from, flow.to));
}

// Problems of the rendered objects' NetworkPolicies, as plain-language strings. valuesOf(service)
// gives the values a service's chart was rendered with (for flows with "when"; default: none set).
function checkNetworkPolicies(table, objects, valuesOf = () => ({})) {
  const problems = [];
  const allowed = allowedFlows(table, valuesOf);
  // What the policies grant, per side: a flow between two services needs both the caller's
  // egress and the callee's ingress.
  const granted = { ingress: new Set(), egress: new Set() };
  const policed = new Set();
  for (const policy of objects.filter((o) => o.kind === 'NetworkPolicy')) {
    const where = `NetworkPolicy/${policy.metadata.name}`;
    const service = ((policy.spec.podSelector || {}).matchLabels || {})[NAME_LABEL];
    const rules = [...(policy.spec.ingress || []), ...(policy.spec.egress || [])];
    if (!service || !table.services[service]) {
      if (rules.length > 0) problems.push(`${where}: selects pods that are not one service of the table`);
      continue;
    }
    const types = policy.spec.policyTypes || [];
    for (const type of ['Ingress', 'Egress']) {
      if (!types.includes(type)) problems.push(`${where}: policyTypes lacks ${type}, so ${service}'s ${type.toLowerCase()} is not denied by default`);
    }
    policed.add(service);
    for (const direction of ['ingress', 'egress']) {
      const peersKey = direction === 'ingress' ? 'from' : 'to';
      for (const rule of policy.spec[direction] || []) {
        for (const flow of ruleFlows(table, rule, peersKey, service, direction, where, problems)) {
          if (!isAllowed(table, allowed, flow)) {
            problems.push(`${where}: allows ${flow.from} -> ${flow.to} on ${flow.port}/${flow.transport}, which helm/flows.yaml does not list`);
          }
          const destinations = flow.to === 'outside' ? outsideEndpoints(table) : [flow.to];
          for (const to of destinations) granted[direction].add(`${flow.from}->${to}:${flow.port}/${flow.transport}`);
        }
      }
    }
  }
  // Nothing missing: each table flow out of or into a policed service is granted by its policy.
  for (const key of allowed) {
    const [, from, to] = key.match(/^(.+)->(.+):/);
    if (policed.has(from) && !granted.egress.has(key)) {
      problems.push(`flow ${key} of helm/flows.yaml is not allowed out of ${from} by its NetworkPolicy`);
    }
    if (policed.has(to) && !granted.ingress.has(key)) {
      problems.push(`flow ${key} of helm/flows.yaml is not allowed into ${to} by its NetworkPolicy`);
    }
  }
  return problems;
}

module.exports = { checkNetworkPolicies, allowedFlows };
