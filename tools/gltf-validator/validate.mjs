// Validates one glTF/GLB file with the Khronos glTF-Validator and prints the
// full JSON report on stdout. Exit status: 0 when the report has no errors,
// 1 when it has errors, 2 when the file could not be read or validated at all
// (so callers can tell "invalid asset" from "broken harness").
//
// Usage: node tools/gltf-validator/validate.mjs path/to/file.glb
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { createRequire } from "node:module";

// The package's ESM entry is not wired through "exports", so load the
// CommonJS build, which is what `main` points at.
const require = createRequire(import.meta.url);
const validator = require("gltf-validator");

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs <file.glb|file.gltf>");
  process.exit(2);
}

let bytes;
try {
  bytes = new Uint8Array(await readFile(path));
} catch (err) {
  console.error(`cannot read ${path}: ${err}`);
  process.exit(2);
}

let report;
try {
  report = await validator.validateBytes(bytes, {
    uri: basename(path),
    maxIssues: 0, // unlimited: tests want to see every problem at once
    writeTimestamp: false, // keeps reports byte-identical across runs
  });
} catch (err) {
  console.error(`validator rejected ${path}: ${err}`);
  process.exit(2);
}

// exitCode rather than exit(): a large report written to a pipe must be
// flushed before the process ends.
process.stdout.write(JSON.stringify(report, null, 2) + "\n");
process.exitCode = report.issues.numErrors === 0 ? 0 : 1;
