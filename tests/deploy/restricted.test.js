// The restricted-v2 checker catches each thing OpenShift's restricted-v2 SCC and Pod Security
// "restricted" refuse: shown on crafted copies of a rendered Deployment, each with one fault,
// and on charts rendered with values that try to bring such a fault in.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { renderOk } = require('./lib/context');
const { checkRestricted } = require('./lib/restricted');

function renderedDeployment() {
  return renderOk('catalogue', {}).find((o) => o.kind === 'Deployment');
}

// A copy of the rendered Deployment with one fault put in by `spoil(podSpec, container)`.
function withFault(spoil) {
  const deployment = structuredClone(renderedDeployment());
  const pod = deployment.spec.template.spec;
  spoil(pod, pod.containers[0]);
  return deployment;
}

test('the rendered Deployment passes', () => {
  assert.deepEqual(checkRestricted([renderedDeployment()]), []);
});

const FAULTS = {
  'a hostPath volume': [(pod) => pod.volumes.push({ name: 'host', hostPath: { path: '/var/run' } }), /hostPath/],
  hostNetwork: [(pod) => { pod.hostNetwork = true; }, /hostNetwork/],
  hostPID: [(pod) => { pod.hostPID = true; }, /hostPID/],
  hostIPC: [(pod) => { pod.hostIPC = true; }, /hostIPC/],
  'a fixed runAsUser on the pod': [(pod) => { pod.securityContext.runAsUser = 1000; }, /runAsUser is fixed/],
  'a fixed runAsUser on the container': [(pod, c) => { c.securityContext.runAsUser = 10001; }, /runAsUser is fixed/],
  'a fixed fsGroup': [(pod) => { pod.securityContext.fsGroup = 2000; }, /fsGroup is fixed/],
  'an added capability': [(pod, c) => { c.securityContext.capabilities.add = ['NET_ADMIN']; }, /capabilities.add/],
  'capabilities not dropped': [(pod, c) => { delete c.securityContext.capabilities.drop; }, /drop must include ALL/],
  'no seccomp profile': [(pod, c) => { delete pod.securityContext.seccompProfile; delete c.securityContext.seccompProfile; }, /seccompProfile/],
  'an Unconfined seccomp profile': [(pod, c) => { c.securityContext.seccompProfile = { type: 'Unconfined' }; }, /seccompProfile/],
  'privilege escalation allowed': [(pod, c) => { c.securityContext.allowPrivilegeEscalation = true; }, /allowPrivilegeEscalation/],
  'privilege escalation not set': [(pod, c) => { delete c.securityContext.allowPrivilegeEscalation; }, /allowPrivilegeEscalation/],
  'a privileged container': [(pod, c) => { c.securityContext.privileged = true; }, /privileged/],
  'a writable root filesystem': [(pod, c) => { c.securityContext.readOnlyRootFilesystem = false; }, /readOnlyRootFilesystem/],
  'running as root allowed': [(pod, c) => { delete pod.securityContext.runAsNonRoot; delete c.securityContext.runAsNonRoot; }, /runAsNonRoot/],
  'a port below 1024': [(pod, c) => { c.ports[0].containerPort = 443; }, /443 is below 1024/],
  'a hostPort': [(pod, c) => { c.ports[0].hostPort = 7001; }, /hostPort/],
  'a faulty init container': [(pod) => { pod.initContainers = [{ name: 'init', image: 'busybox' }]; }, /container init: .*allowPrivilegeEscalation/],
};

for (const [fault, [spoil, expected]] of Object.entries(FAULTS)) {
  test(`the checker refuses ${fault}`, () => {
    const problems = checkRestricted([withFault(spoil)]);
    assert.ok(problems.some((p) => expected.test(p)), `expected a problem matching ${expected}, got ${JSON.stringify(problems)}`);
  });
}

test('values cannot bring in a hostPath: the checker catches it in the rendered chart', () => {
  const objects = renderOk('feed', {
    extraVolumes: [{ name: 'docker', hostPath: { path: '/var/run/docker.sock' } }],
    extraVolumeMounts: [{ name: 'docker', mountPath: '/var/run/docker.sock' }],
  });
  assert.ok(checkRestricted(objects).some((p) => /volume docker is a hostPath/.test(p)));
});

test('values cannot fix the fsGroup unnoticed: the checker catches it in the rendered chart', () => {
  const objects = renderOk('auth', { podSecurityContext: { fsGroup: 1000 } });
  assert.ok(checkRestricted(objects).some((p) => /fsGroup is fixed \(1000\)/.test(p)));
});
