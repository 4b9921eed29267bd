// Validates Kubernetes objects offline against the API's JSON schemas, with the
// kubernetes-models packages (tests/deploy/package.json).
// stdin: a JSON array of objects. stdout: a JSON array, one entry per object:
//   {"kind": ..., "name": ..., "ok": true} or {..., "ok": false, "error": "..."}
"use strict";
const fs = require("fs");

// apiVersion -> module folder of the package that models it.
function modulePath(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  }
  const parts = apiVersion.split("/");
  const folder = parts.length === 1 ? parts[0] : `${parts[0]}/${parts[1]}`;
  return `kubernetes-models/${folder}/${kind}`;
}

const objects = JSON.parse(fs.readFileSync(0, "utf8"));
const results = objects.map((obj) => {
  const where = { kind: obj && obj.kind, name: obj && obj.metadata && obj.metadata.name };
  try {
    if (!obj || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
      throw new Error("missing apiVersion or kind");
    }
    let mod;
    try {
      mod = require(modulePath(obj.apiVersion, obj.kind));
    } catch (e) {
      throw new Error(`no model for ${obj.apiVersion} ${obj.kind}`);
    }
    const Model = mod[obj.kind];
    new Model(obj).validate();
    return { ...where, ok: true };
  } catch (e) {
    return { ...where, ok: false, error: String(e.message || e) };
  }
});
process.stdout.write(JSON.stringify(results));
