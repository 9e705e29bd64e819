// Validates every keda.sh object in rendered manifests (files given as
// arguments, several YAML documents each) against KEDA's own schemas, as
// packaged by @kubernetes-models/keda. Exits 1 on the first invalid object,
// on a keda.sh kind it does not know, or when no KEDA object was found at all
// (a kustomization that lost its ScaledObject must not pass silently).
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";

let checked = 0;
let failed = false;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const obj = doc.toJS();
    if (!obj || typeof obj.apiVersion !== "string" || !obj.apiVersion.startsWith("keda.sh/")) continue;
    const Model = keda[obj.kind];
    const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    if (obj.apiVersion !== "keda.sh/v1alpha1" || typeof Model !== "function") {
      console.error(`${where}: unknown KEDA kind ${obj.apiVersion} ${obj.kind}`);
      failed = true;
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`${where}: valid`);
      checked += 1;
    } catch (e) {
      console.error(`${where}: ${e.message}`);
      failed = true;
    }
  }
}
if (checked === 0 && !failed) {
  console.error("no KEDA object found in " + process.argv.slice(2).join(", "));
  failed = true;
}
process.exit(failed ? 1 : 0);
