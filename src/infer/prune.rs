//! Prunes an ONNX model to the outputs vidmocap reads.
//!
//! ONNX Runtime executes every node of a graph, whatever outputs a run asks
//! for. The BlazePose landmark model carries a 256×256 segmentation head we
//! never read; dropping it makes the model 2.5× faster on a CPU. The verified
//! model file stays as it is; this rewrites its bytes in memory before the
//! session is built.
//!
//! It works on the protobuf wire format directly (no generated ONNX types):
//! `ModelProto.graph` (field 7) holds `GraphProto`, whose nodes (1), initializers
//! (5), outputs (12) and value infos (13) are filtered; every other byte is
//! copied unchanged.

use std::collections::HashSet;

use super::wire::{
    edit_graph, fields, first_string, strings, EditError, Field, GRAPH_INITIALIZER, GRAPH_NODE,
    GRAPH_OUTPUT, GRAPH_VALUE_INFO, NODE_INPUT, NODE_OUTPUT, TENSOR_NAME, VALUE_INFO_NAME,
};

/// Returns `model` (ONNX bytes) reduced to what computes `keep_outputs`.
pub fn prune_outputs(model: &[u8], keep_outputs: &[&str]) -> Result<Vec<u8>, EditError> {
    edit_graph(model, |graph| prune_graph(graph, keep_outputs))
}

fn prune_graph(graph: &[u8], keep_outputs: &[&str]) -> Result<Vec<u8>, EditError> {
    let fs = fields(graph)?;
    let mut output_names = Vec::new();
    for f in fs.iter().filter(|f| f.number == GRAPH_OUTPUT) {
        output_names.push(first_string(f.payload.unwrap_or(&[]), VALUE_INFO_NAME)?);
    }
    for want in keep_outputs {
        if !output_names.iter().any(|n| n.as_deref() == Some(*want)) {
            return Err(EditError::UnknownOutput(want.to_string()));
        }
    }
    // Walk the (topologically sorted) nodes backwards, keeping each node one
    // of whose outputs is needed and then needing its inputs.
    let nodes: Vec<&Field> = fs.iter().filter(|f| f.number == GRAPH_NODE).collect();
    let mut needed: HashSet<String> = keep_outputs.iter().map(|s| s.to_string()).collect();
    let mut keep_node = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate().rev() {
        let msg = node.payload.unwrap_or(&[]);
        if strings(msg, NODE_OUTPUT)?
            .iter()
            .any(|o| needed.contains(o))
        {
            keep_node[i] = true;
            needed.extend(strings(msg, NODE_INPUT)?);
        }
    }
    let mut out = Vec::with_capacity(graph.len());
    let mut node_index = 0;
    for f in &fs {
        let payload = f.payload.unwrap_or(&[]);
        let keep = match f.number {
            GRAPH_NODE => {
                node_index += 1;
                keep_node[node_index - 1]
            }
            GRAPH_INITIALIZER => {
                first_string(payload, TENSOR_NAME)?.is_some_and(|n| needed.contains(&n))
            }
            GRAPH_OUTPUT => first_string(payload, VALUE_INFO_NAME)?
                .is_some_and(|n| keep_outputs.contains(&n.as_str())),
            GRAPH_VALUE_INFO => {
                first_string(payload, VALUE_INFO_NAME)?.is_some_and(|n| needed.contains(&n))
            }
            _ => true,
        };
        if keep {
            out.extend_from_slice(f.raw);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::wire::{push_len_delimited, MODEL_GRAPH};

    fn string_field(n: u32, s: &str, out: &mut Vec<u8>) {
        push_len_delimited(n, s.as_bytes(), out);
    }

    fn node(inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
        let mut m = Vec::new();
        for i in inputs {
            string_field(NODE_INPUT, i, &mut m);
        }
        for o in outputs {
            string_field(NODE_OUTPUT, o, &mut m);
        }
        string_field(4, "Relu", &mut m);
        m
    }

    fn named(n: u32, name: &str) -> Vec<u8> {
        let mut m = Vec::new();
        string_field(n, name, &mut m);
        m
    }

    /// x → a → out1 and x → b(w) → out2, with an unrelated ir_version field.
    fn model() -> Vec<u8> {
        let mut g = Vec::new();
        push_len_delimited(GRAPH_NODE, &node(&["x"], &["a"]), &mut g);
        push_len_delimited(GRAPH_NODE, &node(&["a"], &["out1"]), &mut g);
        push_len_delimited(GRAPH_NODE, &node(&["x", "w"], &["out2"]), &mut g);
        string_field(2, "g", &mut g);
        push_len_delimited(GRAPH_INITIALIZER, &named(TENSOR_NAME, "w"), &mut g);
        push_len_delimited(11, &named(VALUE_INFO_NAME, "x"), &mut g);
        push_len_delimited(GRAPH_OUTPUT, &named(VALUE_INFO_NAME, "out1"), &mut g);
        push_len_delimited(GRAPH_OUTPUT, &named(VALUE_INFO_NAME, "out2"), &mut g);
        let mut m = vec![0x08, 0x08]; // ir_version = 8 (varint field 1)
        push_len_delimited(MODEL_GRAPH, &g, &mut m);
        m
    }

    fn graph_of(model: &[u8]) -> Vec<u8> {
        fields(model)
            .unwrap()
            .into_iter()
            .find(|f| f.number == MODEL_GRAPH)
            .unwrap()
            .payload
            .unwrap()
            .to_vec()
    }

    #[test]
    fn keeps_only_what_the_outputs_need() {
        let pruned = prune_outputs(&model(), &["out1"]).unwrap();
        assert_eq!(&pruned[..2], &[0x08, 0x08], "other model fields are kept");
        let g = graph_of(&pruned);
        let fs = fields(&g).unwrap();
        assert_eq!(fs.iter().filter(|f| f.number == GRAPH_NODE).count(), 2);
        assert_eq!(
            fs.iter().filter(|f| f.number == GRAPH_INITIALIZER).count(),
            0
        );
        let outs: Vec<_> = fs.iter().filter(|f| f.number == GRAPH_OUTPUT).collect();
        assert_eq!(outs.len(), 1);
        assert_eq!(
            fs.iter().filter(|f| f.number == 11).count(),
            1,
            "inputs kept"
        );
    }

    #[test]
    fn keeping_everything_is_the_identity() {
        let m = model();
        assert_eq!(prune_outputs(&m, &["out1", "out2"]).unwrap(), m);
    }

    #[test]
    fn unknown_output_and_garbage_are_errors() {
        assert_eq!(
            prune_outputs(&model(), &["nope"]).unwrap_err(),
            EditError::UnknownOutput("nope".into())
        );
        assert!(prune_outputs(&[0x3a, 0x80], &["x"]).is_err());
        assert!(prune_outputs(b"not a model at all", &["x"]).is_err());
    }
}
