#!/usr/bin/env python3
"""Helpers for scripts/convert-models.sh: make tf2onnx output reproducible and
check a rebuilt ONNX model against a reference.

    onnx_canon.py canon IN.onnx OUT.onnx SOURCE_NAME   write the canonical form
    onnx_canon.py sha IN.onnx                          sha256 of the canonical form
    onnx_canon.py same A.onnx B.onnx                   exit 0 when both canonical forms are identical
    onnx_canon.py numeric A.onnx B.onnx [TOL]          onnxruntime, fixed random input, max |diff| <= TOL (1e-4)

Why a canonical form: tf2onnx 1.17.0 is not deterministic. Converting the same
.tflite twice, even with PYTHONHASHSEED fixed, gives different bytes. Nodes,
node names, node order and every weight value come out the same; what changes
is the names of the initializers (const_fold_opt__1095 vs __1135: a global
name counter, advanced in an order that depends on Python object ids in its
optimizers) and which of several identical constants the de-duplication keeps.
The graph's doc_string also records the input path. The canonical form
  - renames every initializer to const_<k>, k counting first uses in node order,
  - merges initializers with identical dtype, shape and bytes,
  - sets the doc_string to "converted from SOURCE_NAME",
and leaves everything else (graph inputs/outputs, node names, ops, attributes,
weights) untouched, so it computes exactly what the tf2onnx output computes.
Two conversions of the same .tflite give byte-identical canonical forms.
"""
import hashlib
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def canonical(model, source_name=None):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    key_of = {}
    for name, t in inits.items():
        arr = numpy_helper.to_array(t)
        key_of[name] = (t.data_type, tuple(t.dims), arr.tobytes())
    new_name = {}      # old initializer name -> canonical name
    by_key = {}        # content key -> canonical name
    order = []         # canonical initializers in first-use order
    graph_io = {v.name for v in g.input} | {v.name for v in g.output}

    def visit(name):
        if name not in inits or name in graph_io or name in new_name:
            return
        k = key_of[name]
        if k not in by_key:
            by_key[k] = f"const_{len(by_key)}"
            t = numpy_helper.from_array(numpy_helper.to_array(inits[name]), by_key[k])
            order.append(t)
        new_name[name] = by_key[k]

    for node in g.node:
        for i in node.input:
            visit(i)
    for name in inits:          # unused initializers, if any, keep file order
        visit(name)
    for node in g.node:
        for j, i in enumerate(node.input):
            if i in new_name:
                node.input[j] = new_name[i]
    del g.initializer[:]
    g.initializer.extend(order)
    for v in g.value_info:
        if v.name in new_name:
            v.name = new_name[v.name]
    if source_name is not None:
        g.doc_string = f"converted from {source_name}"
    else:
        g.doc_string = ""
    return model


def canonical_bytes(path):
    m = canonical(onnx.load(path))
    return m.SerializeToString()


def numeric(a, b, tol=1e-4):
    import onnxruntime as ort
    sa = ort.InferenceSession(a, providers=["CPUExecutionProvider"])
    sb = ort.InferenceSession(b, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(12345)
    feeds = {}
    for i in sa.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        # Inputs here are images scaled to [0,1] or [-1,1].
        feeds[i.name] = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    names = [o.name for o in sa.get_outputs()]
    if names != [o.name for o in sb.get_outputs()]:
        print(f"output names differ: {names} vs {[o.name for o in sb.get_outputs()]}")
        return False
    oa = sa.run(names, feeds)
    ob = sb.run(names, feeds)
    worst = 0.0
    for n, x, y in zip(names, oa, ob):
        if x.shape != y.shape:
            print(f"{n}: shape {x.shape} vs {y.shape}")
            return False
        worst = max(worst, float(np.abs(x.astype(np.float64) - y).max()))
    print(f"max |diff| over {len(names)} outputs: {worst:.3g} (tolerance {tol:g})")
    return worst <= tol


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "canon" and len(argv) == 5:
        m = canonical(onnx.load(argv[2]), argv[4])
        onnx.save(m, argv[3])
        return 0
    if cmd == "sha" and len(argv) == 3:
        print(hashlib.sha256(canonical_bytes(argv[2])).hexdigest())
        return 0
    if cmd == "same" and len(argv) == 4:
        return 0 if canonical_bytes(argv[2]) == canonical_bytes(argv[3]) else 1
    if cmd == "numeric" and len(argv) in (4, 5):
        tol = float(argv[4]) if len(argv) == 5 else 1e-4
        return 0 if numeric(argv[2], argv[3], tol) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
