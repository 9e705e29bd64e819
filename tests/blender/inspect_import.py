"""Imports one export into an empty Blender scene with the importer's
default settings, as an animator would, and prints what the test checks as
one JSON line prefixed "VIDMOCAP_JSON ":

- per bone at rest (world space, metres as Blender shows them): head, tail,
  local X axis, parent;
- the keyed frames of the imported action and the scene's frame rate;
- per sampled key index, every bone's head position in the posed scene.

Run: blender -b --factory-startup --python inspect_import.py -- FILE [K ...]
"""

import json
import sys

import bpy

# Blender 3.4's BVH importer opens files with mode 'rU', which Python 3.11
# refuses; the text is the same read with 'r'.
import builtins

_open = builtins.open


def _open_without_u(file, mode="r", *args, **kwargs):
    if isinstance(mode, str) and "U" in mode:
        mode = mode.replace("U", "") or "r"
    return _open(file, mode, *args, **kwargs)


builtins.open = _open_without_u

# Blender 3.4's glTF importer uses `np.bool`, which NumPy 1.24 (Debian 12's)
# removed; it meant the builtin.
import numpy

if not hasattr(numpy, "bool"):
    numpy.bool = bool

argv = sys.argv[sys.argv.index("--") + 1 :]
path = argv[0]
samples = [int(k) for k in argv[1:]]

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
if path.endswith(".fbx"):
    bpy.ops.import_scene.fbx(filepath=path)
elif path.endswith(".glb"):
    bpy.ops.import_scene.gltf(filepath=path)
elif path.endswith(".bvh"):
    bpy.ops.import_anim.bvh(filepath=path)
elif path.endswith(".usda") or path.endswith(".usdc") or path.endswith(".usd"):
    bpy.ops.wm.usd_import(filepath=path)
else:
    raise SystemExit("unknown file kind: " + path)

armatures = [o for o in scene.objects if o.type == "ARMATURE"]
if len(armatures) != 1:
    raise SystemExit("expected one armature, found %d" % len(armatures))
arm = armatures[0]
mw = arm.matrix_world


def vec(v):
    return [v.x, v.y, v.z]


bones = {}
for b in arm.data.bones:
    bones[b.name] = {
        "head": vec(mw @ b.head_local),
        "tail": vec(mw @ b.tail_local),
        # The bone's local X in the world, for conventions that run X along
        # the bone (Unreal's); Blender draws every bone along its local Y.
        "x_axis": vec((mw.to_3x3() @ b.matrix_local.to_3x3()).col[0]),
        "parent": b.parent.name if b.parent else None,
    }

action = arm.animation_data.action if arm.animation_data else None
frames = []
if action is not None:
    keyed = set()
    for fc in action.fcurves:
        for kp in fc.keyframe_points:
            keyed.add(round(kp.co.x, 4))
    frames = sorted(keyed)

posed = {}
for k in samples:
    if k >= len(frames):
        continue
    f = frames[k]
    whole = int(f // 1)
    scene.frame_set(whole, subframe=f - whole)
    bpy.context.view_layer.update()
    posed[str(k)] = {pb.name: vec(arm.matrix_world @ pb.head) for pb in arm.pose.bones}

out = {
    "bones": bones,
    "frames": frames,
    "scene_fps": scene.render.fps / scene.render.fps_base,
    "posed": posed,
    "custom": {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in arm.items()},
}
print("VIDMOCAP_JSON " + json.dumps(out))
