#!/usr/bin/env bash
# Offline checks of deploy/ (no Docker engine or cluster runs here): renders
# every kustomize overlay, validates the result against Kubernetes' schemas
# (kubernetes-validate, strict) and the KEDA objects against KEDA's own
# schemas (@kubernetes-models/keda), lints the YAML (yamllint) and validates
# the compose file against the compose specification (check-jsonschema).
# The tools come from scripts/setup.sh. Exits non-zero on the first failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
k8s_version=1.32.0
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

yamllint -s -c deploy/.yamllint.yaml deploy/
echo "yamllint: deploy/ clean"

check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

rendered=()
for overlay in deploy/k8s/overlays/*/; do
  name="$(basename "$overlay")"
  kubectl kustomize "$overlay" > "$out/$name.yaml"
  kubernetes-validate --strict --quiet -k "$k8s_version" "$out/$name.yaml"
  echo "kubernetes-validate: overlay $name valid against Kubernetes $k8s_version"
  rendered+=("$out/$name.yaml")
done
[ ${#rendered[@]} -ge 2 ] || { echo "expected the cpu and gpu overlays, found ${#rendered[@]}" >&2; exit 1; }
node tools/deploy-check/validate-keda.mjs "${rendered[@]}"
