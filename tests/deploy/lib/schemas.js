// Validates rendered objects offline against the schemas of the API they belong to:
// Kubernetes (kubernetes-models), the Prometheus operator (@kubernetes-models/prometheus-operator)
// and OpenShift's Route (route.schema.json, our own). An object whose apiVersion and kind no
// schema covers is an error too, so nothing slips through unchecked.
'use strict';
const fs = require('fs');
const path = require('path');
const { toolsRequire } = require('./context');

const Ajv = toolsRequire('ajv');
const routeSchema = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'route.schema.json'), 'utf8'));
const validateRoute = new Ajv({ allErrors: true, strict: false }).compile(routeSchema);

// The model class for an apiVersion and kind, or null.
function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [null, apiVersion];
  const modulePath = group === null ? `kubernetes-models/${version}`
    : group === 'monitoring.coreos.com' ? `@kubernetes-models/prometheus-operator/${group}/${version}`
      : `kubernetes-models/${group}/${version}`;
  let module;
  try {
    module = toolsRequire(modulePath);
  } catch (e) {
    return null;
  }
  return module[kind] || null;
}

// Returns the problems of one object as strings (empty when it is valid).
function validateObject(object) {
  const name = `${object.kind}/${object.metadata && object.metadata.name}`;
  if (!object.apiVersion || !object.kind) return [`${name}: apiVersion and kind are required`];
  if (object.apiVersion === 'route.openshift.io/v1' && object.kind === 'Route') {
    if (validateRoute(object)) return [];
    return validateRoute.errors.map((e) => `${name}: ${e.instancePath || '/'} ${e.message}`);
  }
  const Model = modelFor(object.apiVersion, object.kind);
  if (!Model) return [`${name}: no schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (e) {
    const errors = e.errors || [{ instancePath: '', message: e.message }];
    return errors.map((err) => `${name}: ${err.instancePath || '/'} ${err.message}`);
  }
}

function validateObjects(objects) {
  return objects.flatMap(validateObject);
}

module.exports = { validateObject, validateObjects };
