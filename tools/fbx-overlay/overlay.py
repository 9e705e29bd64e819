#!/usr/bin/env python3
"""Draws an exported FBX, as Blender imports it with default settings, over
the video it came from: for looking at the motion an animator gets, frame by
frame, beside the picture.

For each chosen frame it writes one PNG: the video frame with the FBX's
bones projected through the run's camera (keypoints.json's `camera` and
`scene_offset`), and beside it the same skeleton seen from the side, so
depth errors (a body leaning into the picture, feet under the floor) show
too. Needs Blender, ffmpeg and Pillow (pip install pillow).

  tools/fbx-overlay/overlay.py VIDEO RUN_DIR OUT_DIR [FRAME ...]

RUN_DIR is a `vidmocap process` (or `resolve`) output folder holding
motion.fbx and keypoints.json; FRAMEs are video frame numbers (default:
eight spread over the followed span).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
BONES_SCRIPT = HERE.parent.parent / "tests" / "support" / "blender_bones.py"
SIDE_W = 500


def blender_bones(fbx: Path, out: Path) -> dict:
    subprocess.run(
        ["blender", "-b", "--factory-startup", "--python", str(BONES_SCRIPT), "--", str(fbx), str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.loads(out.read_text())


def video_frame(video: Path, index: int, fps: float, out: Path) -> Image.Image:
    # Seeking by time with an accurate seek lands on the frame itself.
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", f"{index / fps:.4f}", "-i", str(video),
         "-frames:v", "1", str(out)],
        check=True,
    )
    return Image.open(out).convert("RGB")


def to_output(p):
    """Blender's Z-up scene (the FBX importer's default axes) to the
    exporter's Y-up output space."""
    return (p[0], p[2], -p[1])


def rotate(q, p):
    """The quaternion q (x, y, z, w) applied to the point p."""
    x, y, z, w = q
    # t = 2 q.xyz x p; p' = p + w t + q.xyz x t
    t = [2 * (y * p[2] - z * p[1]), 2 * (z * p[0] - x * p[2]), 2 * (x * p[1] - y * p[0])]
    return [
        p[0] + w * t[0] + (y * t[2] - z * t[1]),
        p[1] + w * t[1] + (z * t[0] - x * t[2]),
        p[2] + w * t[2] + (x * t[1] - y * t[0]),
    ]


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    video, run, out_dir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    out_dir.mkdir(parents=True, exist_ok=True)
    kp = json.loads((run / "keypoints.json").read_text())
    cam, off, fps = kp["camera"], kp["scene_offset"], kp["fps"]
    # Format 4 levels the scene on the ground; older files have no rotation.
    rot = kp.get("scene_rotation", [0.0, 0.0, 0.0, 1.0])
    first, last = kp["first_frame"], kp["last_frame"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bones = blender_bones(run / "motion.fbx", tmp / "bones.json")
        frames, parents = bones["frames"], bones["parents"]
        wanted = [int(a) for a in sys.argv[4:]] or [
            first + round(i * (last - first) / 7) for i in range(8)
        ]
        # Side view scale and floor: the whole clip's height range, so
        # frames compare; each frame is centred on its own depth.
        ys = [to_output(p)[1] for f in frames for p in f.values()]
        for index in wanted:
            k = index - first
            if not 0 <= k < len(frames):
                print(f"frame {index}: outside the FBX's {first}-{last}", file=sys.stderr)
                continue
            img = video_frame(video, index, fps, tmp / "frame.png")
            w, h = img.size
            pts = {name: to_output(p) for name, p in frames[k].items()}

            def project(p):
                q = rotate(rot, p)
                x, y, z = q[0] + off[0], -(q[1] + off[1]), -(q[2] + off[2])
                return (cam["fx"] * x / z + cam["cx"], cam["fy"] * y / z + cam["cy"])

            canvas = Image.new("RGB", (w + SIDE_W, h), "white")
            canvas.paste(img, (0, 0))
            d = ImageDraw.Draw(canvas)
            scale = 0.9 * h / max(1e-6, max(ys) - min(ys))
            zs = [p[2] for p in pts.values()]
            zmid = 0.5 * (max(zs) + min(zs))

            def side(p):
                return (w + SIDE_W / 2 + scale * (p[2] - zmid), h * 0.95 - scale * (p[1] - min(ys)))

            # Floor line in the side view at the lowest point of the clip.
            d.line([(w, h * 0.95), (w + SIDE_W, h * 0.95)], fill=(180, 180, 180), width=2)
            for name, parent in parents.items():
                if parent is None or name not in pts or parent not in pts:
                    continue
                left = "left" in name.lower() or name.lower().endswith("_l")
                colour = (255, 60, 60) if left else (40, 120, 255)
                d.line([project(pts[parent]), project(pts[name])], fill=colour, width=4)
                d.line([side(pts[parent]), side(pts[name])], fill=colour, width=3)
            d.text((10, 10), f"frame {index}  (red: left side)", fill=(255, 255, 0))
            d.text((w + 10, 10), "side view: depth across, the camera off the right edge", fill=(0, 0, 0))
            path = out_dir / f"overlay-{index:04d}.png"
            canvas.save(path)
            print(path)


if __name__ == "__main__":
    main()
