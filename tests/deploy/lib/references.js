// What a schema cannot see but the cluster would stumble over: names that must point at each
// other within one release. A mount needs its volume, a Service's targetPort a container port,
// a Route, Ingress or ServiceMonitor an existing Service port, and every selector must select
// the pods of a Deployment.
'use strict';

function matches(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels[k] === v);
}

function checkReferences(objects) {
  const problems = [];
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const services = objects.filter((o) => o.kind === 'Service');
  const podLabels = deployments.map((d) => d.spec.template.metadata.labels);
  const selectsPods = (selector) => podLabels.some((labels) => matches(selector, labels));

  for (const d of deployments) {
    const where = `Deployment/${d.metadata.name}`;
    const pod = d.spec.template.spec;
    if (!matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)) {
      problems.push(`${where}: spec.selector does not select its own pod template`);
    }
    const volumes = new Set((pod.volumes || []).map((v) => v.name));
    for (const c of pod.containers) {
      for (const m of c.volumeMounts || []) {
        if (!volumes.has(m.name)) problems.push(`${where}: container ${c.name} mounts ${m.name}, which is no volume of the pod`);
      }
    }
  }
  const containerPorts = new Map();
  for (const d of deployments) {
    const names = d.spec.template.spec.containers.flatMap((c) => (c.ports || []).map((p) => p.name));
    containerPorts.set(d.spec.template.metadata.labels, names);
  }
  for (const s of services) {
    const where = `Service/${s.metadata.name}`;
    const target = [...containerPorts.entries()].find(([labels]) => matches(s.spec.selector, labels));
    if (!target) {
      problems.push(`${where}: selects no Deployment's pods`);
      continue;
    }
    for (const port of s.spec.ports) {
      if (typeof port.targetPort === 'string' && !target[1].includes(port.targetPort)) {
        problems.push(`${where}: targetPort ${port.targetPort} is no container port`);
      }
    }
  }
  const servicePort = (name, port) => services.some((s) => s.metadata.name === name && s.spec.ports.some((p) => p.name === port || p.port === port));
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata.name}`;
    if (o.kind === 'Route' && !servicePort(o.spec.to.name, o.spec.port.targetPort)) {
      problems.push(`${where}: Service ${o.spec.to.name} has no port ${o.spec.port.targetPort}`);
    }
    if (o.kind === 'Ingress') {
      for (const rule of o.spec.rules) {
        for (const path of rule.http.paths) {
          const { name, port } = path.backend.service;
          if (!servicePort(name, port.name || port.number)) problems.push(`${where}: Service ${name} has no port ${port.name || port.number}`);
        }
      }
    }
    if (o.kind === 'ServiceMonitor') {
      const selected = services.filter((s) => matches(o.spec.selector.matchLabels, s.metadata.labels));
      if (selected.length === 0) problems.push(`${where}: selects no Service`);
      for (const e of o.spec.endpoints) {
        if (!selected.some((s) => s.spec.ports.some((p) => p.name === e.port))) problems.push(`${where}: no selected Service has port ${e.port}`);
      }
    }
    if (['PodDisruptionBudget', 'NetworkPolicy'].includes(o.kind)) {
      const selector = o.kind === 'NetworkPolicy' ? o.spec.podSelector.matchLabels : o.spec.selector.matchLabels;
      if (!selectsPods(selector)) problems.push(`${where}: selects no Deployment's pods`);
    }
    if (o.kind === 'HorizontalPodAutoscaler' && !deployments.some((d) => d.metadata.name === o.spec.scaleTargetRef.name)) {
      problems.push(`${where}: scales ${o.spec.scaleTargetRef.name}, which is no Deployment`);
    }
  }
  return problems;
}

module.exports = { checkReferences };
