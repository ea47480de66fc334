// Checks pods against OpenShift's restricted-v2 SCC and Pod Security "restricted" as written:
// what a platform team would see refused at admission. Returns plain-language problems.
'use strict';

const POD_TEMPLATE_PATHS = {
  Pod: (o) => o.spec,
  Deployment: (o) => o.spec.template.spec,
  StatefulSet: (o) => o.spec.template.spec,
  DaemonSet: (o) => o.spec.template.spec,
  ReplicaSet: (o) => o.spec.template.spec,
  Job: (o) => o.spec.template.spec,
  CronJob: (o) => o.spec.jobTemplate.spec.template.spec,
};

function checkContainer(where, container, podContext) {
  const problems = [];
  const sc = container.securityContext || {};
  const say = (text) => problems.push(`${where} container ${container.name}: ${text}`);
  if (sc.privileged) say('securityContext.privileged must not be true');
  if (sc.allowPrivilegeEscalation !== false) say('securityContext.allowPrivilegeEscalation must be false');
  const caps = sc.capabilities || {};
  if (!(caps.drop || []).includes('ALL')) say('securityContext.capabilities.drop must include ALL');
  if ((caps.add || []).length > 0) say(`securityContext.capabilities.add must be empty (has ${caps.add.join(', ')})`);
  if (sc.readOnlyRootFilesystem !== true) say('securityContext.readOnlyRootFilesystem must be true');
  if (sc.runAsUser !== undefined) say(`securityContext.runAsUser is fixed (${sc.runAsUser}); OpenShift assigns the UID`);
  if (sc.runAsGroup !== undefined) say(`securityContext.runAsGroup is fixed (${sc.runAsGroup})`);
  if (sc.runAsNonRoot !== true && podContext.runAsNonRoot !== true) say('runAsNonRoot must be true (pod or container)');
  const seccomp = (sc.seccompProfile || podContext.seccompProfile || {}).type;
  if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
    say('seccompProfile.type must be RuntimeDefault (pod or container)');
  }
  if (sc.procMount && sc.procMount !== 'Default') say('securityContext.procMount must be Default');
  for (const port of container.ports || []) {
    if (port.containerPort < 1024) say(`port ${port.name || ''} ${port.containerPort} is below 1024`);
    if (port.hostPort !== undefined) say(`port ${port.containerPort} uses hostPort ${port.hostPort}`);
  }
  return problems;
}

function checkPod(where, pod) {
  const problems = [];
  const say = (text) => problems.push(`${where}: ${text}`);
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (pod[field]) say(`spec.${field} must not be true`);
  }
  for (const volume of pod.volumes || []) {
    if (volume.hostPath) say(`volume ${volume.name} is a hostPath (${volume.hostPath.path})`);
  }
  const psc = pod.securityContext || {};
  for (const field of ['runAsUser', 'runAsGroup', 'fsGroup']) {
    if (psc[field] !== undefined) say(`securityContext.${field} is fixed (${psc[field]}); OpenShift assigns it from the namespace's range`);
  }
  if ((psc.supplementalGroups || []).length > 0) say('securityContext.supplementalGroups is fixed');
  if ((psc.sysctls || []).length > 0) say('securityContext.sysctls must be empty');
  const containers = [...(pod.initContainers || []), ...(pod.containers || []), ...(pod.ephemeralContainers || [])];
  for (const container of containers) problems.push(...checkContainer(where, container, psc));
  return problems;
}

// Problems of every pod (template) among the objects.
function checkRestricted(objects) {
  const problems = [];
  for (const object of objects) {
    const podOf = POD_TEMPLATE_PATHS[object.kind];
    if (!podOf) continue;
    problems.push(...checkPod(`${object.kind}/${object.metadata.name}`, podOf(object)));
  }
  return problems;
}

module.exports = { checkRestricted };
