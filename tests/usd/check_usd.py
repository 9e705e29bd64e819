"""Checks a .usda with OpenUSD's own tools (PyPI usd-core 26): every
validator of the UsdValidation framework (what usdchecker runs), then reads
the skeleton back. Prints one JSON line prefixed "VIDMOCAP_JSON ":

- errors / warnings: the validators' findings, as text;
- joints, time_codes_per_second, start / end time codes;
- positions: per sampled sample index, each joint's world position
  (skeleton space; the skeleton has no transform above it).

Run: python3 check_usd.py FILE [K ...]
"""

import json
import sys

from pxr import Usd, UsdSkel, UsdValidation

path = sys.argv[1]
samples = [int(k) for k in sys.argv[2:]]
stage = Usd.Stage.Open(path)

registry = UsdValidation.ValidationRegistry()
context = UsdValidation.ValidationContext(registry.GetOrLoadAllValidators())
errors, warnings = [], []
for e in context.Validate(stage):
    kind = e.GetType()
    text = "%s: %s" % (e.GetName(), e.GetMessage())
    if kind == UsdValidation.ValidationErrorType.Error:
        errors.append(text)
    elif kind == UsdValidation.ValidationErrorType.Warn:
        warnings.append(text)

skel = UsdSkel.Skeleton(stage.GetPrimAtPath("/capture/Skeleton"))
root = UsdSkel.Root(stage.GetPrimAtPath("/capture"))
cache = UsdSkel.Cache()
cache.Populate(root, Usd.PrimDefaultPredicate)
query = cache.GetSkelQuery(skel)
anim = query.GetAnimQuery()
times = anim.GetJointTransformTimeSamples()
joints = [str(j) for j in query.GetJointOrder()]

positions = {}
for k in samples:
    if k >= len(times):
        continue
    xforms = query.ComputeJointSkelTransforms(Usd.TimeCode(times[k]))
    positions[str(k)] = {
        j.split("/")[-1]: list(m.ExtractTranslation()) for j, m in zip(joints, xforms)
    }

bindings = cache.ComputeSkelBindings(root, Usd.PrimDefaultPredicate)
skinned = sum(len(b.GetSkinningTargets()) for b in bindings)

print(
    "VIDMOCAP_JSON "
    + json.dumps(
        {
            "errors": errors,
            "warnings": warnings,
            "joints": joints,
            "time_codes_per_second": stage.GetTimeCodesPerSecond(),
            "start": stage.GetStartTimeCode(),
            "end": stage.GetEndTimeCode(),
            "samples": list(times),
            "skinned_meshes": skinned,
            "positions": positions,
            "source": stage.GetRootLayer().customLayerData.get("vidmocap_source", {}),
        }
    )
)
