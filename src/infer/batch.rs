//! Gives an ONNX model a dynamic batch dimension, so one run takes several
//! inputs (every person's crop of a frame).
//!
//! The BlazePose landmark models were converted with a batch of 1 fixed in
//! their declared input and outputs. Inside, nothing depends on it once the
//! segmentation head is pruned (see [`super::prune`]): convolutions, pads and
//! resizes act per image, and the heads reshape to `[-1, n]`. So declaring
//! the first dimension symbolic is all it takes; `tests/batched_inference.rs`
//! checks the result against the batch-1 graph on real crops.
//!
//! The rewrite works on the wire format ([`super::wire`]): each graph input
//! and output whose first dimension is a fixed 1 gets the symbolic `batch`
//! instead, and the value infos (optional shape hints, some of which carry
//! the fixed batch) are dropped for ONNX Runtime to infer again.

use super::wire::{
    edit_graph, fields, first_string, push_len_delimited, read_varint, EditError, DIM_PARAM,
    GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO, SHAPE_DIM, TENSOR_NAME,
    TENSOR_TYPE_SHAPE, TYPE_TENSOR, VALUE_INFO_NAME, VALUE_INFO_TYPE,
};

/// The name the batch dimension is given.
pub const BATCH_PARAM: &str = "batch";

/// `model` (ONNX bytes) with a symbolic batch in place of a fixed 1.
/// A model with no input of batch 1 is an error: it cannot be batched this
/// way, and a silent no-op would fail later, at the first batched run.
pub fn dynamic_batch(model: &[u8]) -> Result<Vec<u8>, EditError> {
    edit_graph(model, batch_graph)
}

fn batch_graph(graph: &[u8]) -> Result<Vec<u8>, EditError> {
    let fs = fields(graph)?;
    let mut initializers = Vec::new();
    for f in fs.iter().filter(|f| f.number == GRAPH_INITIALIZER) {
        initializers.extend(first_string(f.payload.unwrap_or_default(), TENSOR_NAME)?);
    }
    let mut out = Vec::with_capacity(graph.len());
    let mut inputs = 0;
    for f in &fs {
        let payload = f.payload.unwrap_or_default();
        match f.number {
            GRAPH_VALUE_INFO => {}
            GRAPH_INPUT | GRAPH_OUTPUT => {
                // Old-style models list initializers among the inputs:
                // those are weights, not a batch.
                let name = first_string(payload, VALUE_INFO_NAME)?;
                let weight = name.is_some_and(|n| initializers.contains(&n));
                match (weight, batched_value_info(payload)?) {
                    (false, Some(info)) => {
                        inputs += usize::from(f.number == GRAPH_INPUT);
                        push_len_delimited(f.number, &info, &mut out);
                    }
                    _ => out.extend_from_slice(f.raw),
                }
            }
            _ => out.extend_from_slice(f.raw),
        }
    }
    if inputs == 0 {
        return Err(EditError::Malformed("no input with a batch of 1"));
    }
    Ok(out)
}

/// A `ValueInfoProto` with its tensor's first dimension made symbolic, or
/// `None` when that dimension is not a fixed 1.
fn batched_value_info(info: &[u8]) -> Result<Option<Vec<u8>>, EditError> {
    let first_dim = |dim: &[u8]| -> Result<Option<Vec<u8>>, EditError> {
        if dim_value(dim)? != Some(1) {
            return Ok(None);
        }
        let mut symbolic = Vec::new();
        push_len_delimited(DIM_PARAM, BATCH_PARAM.as_bytes(), &mut symbolic);
        Ok(Some(symbolic))
    };
    let shape = |shape: &[u8]| map_first(shape, SHAPE_DIM, first_dim);
    let tensor = |tensor: &[u8]| map_first(tensor, TENSOR_TYPE_SHAPE, shape);
    let ty = |ty: &[u8]| map_first(ty, TYPE_TENSOR, tensor);
    map_first(info, VALUE_INFO_TYPE, ty)
}

/// `msg` with the first length-delimited field `number` replaced by what
/// `edit` makes of its payload; `None` when there is no such field or
/// `edit` leaves it alone.
fn map_first(
    msg: &[u8],
    number: u32,
    edit: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, EditError>,
) -> Result<Option<Vec<u8>>, EditError> {
    let fs = fields(msg)?;
    let Some(at) = fs
        .iter()
        .position(|f| f.number == number && f.payload.is_some())
    else {
        return Ok(None);
    };
    let Some(new) = edit(fs[at].payload.unwrap_or_default())? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(msg.len() + 8);
    for (i, f) in fs.iter().enumerate() {
        if i == at {
            push_len_delimited(number, &new, &mut out);
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Ok(Some(out))
}

/// A `TensorShapeProto.Dimension`'s fixed value (field 1), if it has one.
fn dim_value(dim: &[u8]) -> Result<Option<u64>, EditError> {
    // Serializers write fields in number order, so a fixed value comes
    // first; anything else there (a dim_param) means not fixed.
    let mut pos = 0;
    if dim.is_empty() || read_varint(dim, &mut pos)? != 1 << 3 {
        return Ok(None);
    }
    read_varint(dim, &mut pos).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::wire::{write_varint, MODEL_GRAPH};

    fn dim_fixed(v: u64) -> Vec<u8> {
        let mut d = Vec::new();
        write_varint(1 << 3, &mut d);
        write_varint(v, &mut d);
        d
    }

    /// A ValueInfoProto named `name` of a float tensor shaped `dims`.
    fn value_info(name: &str, dims: &[u64]) -> Vec<u8> {
        let mut shape = Vec::new();
        for &d in dims {
            push_len_delimited(SHAPE_DIM, &dim_fixed(d), &mut shape);
        }
        let mut tensor = vec![0x08, 0x01]; // elem_type = FLOAT
        push_len_delimited(TENSOR_TYPE_SHAPE, &shape, &mut tensor);
        let mut ty = Vec::new();
        push_len_delimited(TYPE_TENSOR, &tensor, &mut ty);
        let mut info = Vec::new();
        push_len_delimited(VALUE_INFO_NAME, name.as_bytes(), &mut info);
        push_len_delimited(VALUE_INFO_TYPE, &ty, &mut info);
        info
    }

    fn model(graph_fields: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut g = Vec::new();
        for (n, payload) in graph_fields {
            push_len_delimited(*n, payload, &mut g);
        }
        let mut m = vec![0x08, 0x08]; // ir_version = 8
        push_len_delimited(MODEL_GRAPH, &g, &mut m);
        m
    }

    fn graph_fields(model: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let top = fields(model).unwrap();
        let g = top.iter().find(|f| f.number == MODEL_GRAPH).unwrap();
        fields(g.payload.unwrap())
            .unwrap()
            .iter()
            .map(|f| (f.number, f.payload.unwrap_or_default().to_vec()))
            .collect()
    }

    #[test]
    fn the_batch_of_one_becomes_symbolic_and_the_rest_stays() {
        let mut weight = Vec::new();
        push_len_delimited(TENSOR_NAME, b"w", &mut weight);
        let m = model(&[
            (GRAPH_INITIALIZER, weight.clone()),
            (GRAPH_INPUT, value_info("x", &[1, 256, 256, 3])),
            (GRAPH_INPUT, value_info("w", &[1, 3])),
            (GRAPH_VALUE_INFO, value_info("hidden", &[1, 64])),
            (GRAPH_OUTPUT, value_info("y", &[1, 195])),
            (GRAPH_OUTPUT, value_info("z", &[4, 2])),
        ]);
        let batched = dynamic_batch(&m).unwrap();
        assert_eq!(&batched[..2], &[0x08, 0x08], "other model fields are kept");
        let g = graph_fields(&batched);
        let symbolic_x = {
            let mut shape = Vec::new();
            let mut d = Vec::new();
            push_len_delimited(DIM_PARAM, b"batch", &mut d);
            push_len_delimited(SHAPE_DIM, &d, &mut shape);
            for v in [256, 256, 3] {
                push_len_delimited(SHAPE_DIM, &dim_fixed(v), &mut shape);
            }
            shape
        };
        let x = &g[1].1;
        assert!(
            x.windows(symbolic_x.len()).any(|w| w == symbolic_x),
            "x's shape is [batch, 256, 256, 3]"
        );
        assert_eq!(g[2].1, value_info("w", &[1, 3]), "weights keep their shape");
        assert!(
            g.iter().all(|(n, _)| *n != GRAPH_VALUE_INFO),
            "value infos dropped"
        );
        assert_ne!(g[3].1, value_info("y", &[1, 195]), "outputs batched too");
        assert_eq!(g[4].1, value_info("z", &[4, 2]), "a real 4 is no batch");
        assert_eq!(g[0].1, weight);
    }

    #[test]
    fn a_model_without_a_batch_of_one_is_refused() {
        let m = model(&[(GRAPH_INPUT, value_info("x", &[3, 256]))]);
        assert!(dynamic_batch(&m).is_err());
        assert!(dynamic_batch(b"garbage").is_err());
        // Already batched: the symbolic input is left as it is, and refused.
        let once = dynamic_batch(&model(&[(GRAPH_INPUT, value_info("x", &[1, 2]))])).unwrap();
        assert!(dynamic_batch(&once).is_err());
    }
}
