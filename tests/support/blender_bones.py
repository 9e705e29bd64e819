# Blender headless: import an FBX with default settings and write every
# bone's world-space head position per frame as JSON, with each bone's
# parent (tools/fbx-overlay draws the skeleton from them).
#   blender -b --python blender_bones.py -- motion.fbx out.json
import json
import sys

import bpy

args = sys.argv[sys.argv.index("--") + 1:]
src, dst = args[0], args[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.fbx(filepath=src)
arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
scene = bpy.context.scene
action = arm.animation_data.action if arm.animation_data else None
start, end = (int(action.frame_range[0]), int(action.frame_range[1])) if action else (scene.frame_start, scene.frame_end)
frames = []
for f in range(start, end + 1):
    scene.frame_set(f)
    frames.append({b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones})
with open(dst, "w") as out:
    parents = {b.name: b.parent.name if b.parent else None for b in arm.pose.bones}
    json.dump({"fps": scene.render.fps, "start": start, "parents": parents, "frames": frames}, out)
