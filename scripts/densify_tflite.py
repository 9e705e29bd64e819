#!/usr/bin/env python3
"""Rewrite a .tflite model so that its sparse constant weights are stored dense.

    densify_tflite.py IN.tflite OUT.tflite [--check]

Why: MediaPipe's pose_detection.tflite stores 38 of its fp16 weight tensors in
TFLite's sparse format (SparsityParameters, expanded at run time by DENSIFY
ops). tf2onnx 1.17.0 does not understand that format: it reads the sparse
buffer as if it were dense and fails ("cannot reshape array of size 96 into
shape (16,1,1,24)"). So before converting, every DENSIFY op whose input is a
constant is evaluated here, once: its output tensor gets a plain buffer with
the dense values and the op is removed. The weights stay fp16 (the DEQUANTIZE
ops after them are kept; tf2onnx folds them into fp32 constants), so the
numbers are exactly those the TFLite runtime would compute.

The sparse-to-dense expansion follows TFLite's own FormatConverter
(tensorflow/lite/kernels/internal/utils/sparsity_format_converter.cc):
traversal order, block map and DENSE / SPARSE_CSR dimensions.

--check runs both models with the TFLite interpreter on a fixed random input
and fails unless every output is identical up to 1e-6.

Needs the Python of .tools/convert-venv (tensorflow-cpu, flatbuffers, numpy).
"""
import argparse
import sys

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

NP_TYPE = {
    schema.TensorType.FLOAT32: np.float32,
    schema.TensorType.FLOAT16: np.float16,
    schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.INT32: np.int32,
}


def index_vector(union_type, vec):
    """Values of a SparseIndexVector union (Int32/Uint16/Uint8 vector)."""
    if union_type == schema.SparseIndexVector.NONE or vec is None:
        return None
    return np.asarray(vec.values, dtype=np.int64)


def densify(values, shape, sparsity):
    """Dense array of `shape` from the sparse `values` (TFLite FormatConverter)."""
    shape = [int(d) for d in shape]
    orig_rank = len(shape)
    order = [int(i) for i in sparsity.traversalOrder]
    block_map = [int(i) for i in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    dims = sparsity.dimMetadata
    if len(order) != len(dims):
        raise ValueError("traversal order and dim metadata disagree")
    block_size = [int(dims[orig_rank + i].denseSize) for i in range(len(block_map))]
    dense = np.zeros(int(np.prod(shape)), dtype=values.dtype)
    strides = np.cumprod([1] + shape[::-1][:-1])[::-1]
    pos = 0
    # Iterative version of FormatConverter::Populate: (level, prev_idx, indices).
    stack = [(0, 0, [0] * len(order))]
    while stack:
        level, prev_idx, idx = stack.pop()
        if level == len(order):
            orig = [0] * orig_rank
            for i in range(orig_rank):
                orig[order[i]] = idx[i]
            for i in range(orig_rank, len(order)):
                b = order[i] - orig_rank
                orig[block_map[b]] = orig[block_map[b]] * block_size[b] + idx[i]
            dense[int(np.dot(orig, strides))] = values[pos]
            pos += 1
            continue
        d = dims[level]
        children = []
        if d.format == schema.DimensionType.DENSE:
            n = int(d.denseSize)
            for i in range(n):
                children.append((i, prev_idx * n + i))
        else:
            seg = index_vector(d.arraySegmentsType, d.arraySegments)
            ind = index_vector(d.arrayIndicesType, d.arrayIndices)
            for i in range(int(seg[prev_idx]), int(seg[prev_idx + 1])):
                children.append((int(ind[i]), i))
        # Push in reverse so values are consumed in storage order.
        for i, nxt in reversed(children):
            j = list(idx)
            j[level] = i
            stack.append((level + 1, nxt, j))
    if pos != len(values):
        raise ValueError(f"used {pos} of {len(values)} stored values")
    return dense.reshape(shape)


def opname(model, op):
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def rewrite(src, dst):
    with open(src, "rb") as f:
        buf = f.read()
    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    n = 0
    for g in model.subgraphs:
        kept = []
        for op in g.operators:
            if opname(model, op) != schema.BuiltinOperator.DENSIFY:
                kept.append(op)
                continue
            t_in = g.tensors[op.inputs[0]]
            t_out = g.tensors[op.outputs[0]]
            data = model.buffers[t_in.buffer].data
            if t_in.sparsity is None or data is None or len(data) == 0:
                raise SystemExit(f"DENSIFY input {t_in.name!r} is not a sparse constant")
            values = np.frombuffer(bytes(np.asarray(data, dtype=np.uint8)), dtype=NP_TYPE[t_in.type])
            dense = densify(values, t_in.shape, t_in.sparsity)
            if list(t_out.shape) != list(dense.shape) or t_out.type != t_in.type:
                raise SystemExit(f"DENSIFY output {t_out.name!r} does not match its input")
            b = schema.BufferT()
            b.data = np.frombuffer(dense.astype(dense.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
            model.buffers.append(b)
            t_out.buffer = len(model.buffers) - 1
            # The sparse tensor is now unused: drop its data and sparsity.
            model.buffers[t_in.buffer].data = None
            t_in.sparsity = None
            n += 1
        g.operators = kept
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with open(dst, "wb") as f:
        f.write(bytes(builder.Output()))
    print(f"densified {n} sparse tensors: {src} -> {dst}")
    return n


def check(a, b):
    import tensorflow as tf
    outs = []
    rng = np.random.default_rng(0)
    x = None
    for p in (a, b):
        it = tf.lite.Interpreter(model_path=p)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        if x is None:
            x = rng.uniform(-1, 1, d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
        it.invoke()
        outs.append([it.get_tensor(o["index"]) for o in it.get_output_details()])
    worst = max(float(np.abs(p - q).max()) for p, q in zip(*outs))
    print(f"tflite original vs densified, random input: max |diff| {worst:g}")
    if worst > 1e-6:
        raise SystemExit("densified model does not compute the same outputs")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    rewrite(a.src, a.dst)
    if a.check:
        check(a.src, a.dst)


if __name__ == "__main__":
    sys.exit(main())
