//! The protobuf wire format, just enough of it to edit ONNX graphs in place:
//! split a message into its fields, rebuild one with some of them changed.
//! Every byte of a field nobody touches is copied unchanged, so an edit never
//! loses what the editor does not know about (a typed decode would drop
//! unknown fields on re-encoding).
//!
//! Field numbers are onnx.proto3's.

/// Why a model could not be edited.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EditError {
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    #[error("the model has no output named {0}")]
    UnknownOutput(String),
    #[error("the model has no input named {0}")]
    UnknownInput(String),
}

pub const MODEL_GRAPH: u32 = 7;
pub const GRAPH_NODE: u32 = 1;
pub const GRAPH_INITIALIZER: u32 = 5;
pub const GRAPH_INPUT: u32 = 11;
pub const GRAPH_OUTPUT: u32 = 12;
pub const GRAPH_VALUE_INFO: u32 = 13;
pub const NODE_INPUT: u32 = 1;
pub const NODE_OUTPUT: u32 = 2;
pub const TENSOR_NAME: u32 = 8;
pub const VALUE_INFO_NAME: u32 = 1;
pub const VALUE_INFO_TYPE: u32 = 2;
pub const TYPE_TENSOR: u32 = 1;
pub const TENSOR_TYPE_SHAPE: u32 = 2;
pub const SHAPE_DIM: u32 = 1;
pub const DIM_PARAM: u32 = 2;

/// One top-level field of a message: its number and its full encoding.
pub struct Field<'a> {
    pub number: u32,
    /// The whole field as it appears on the wire (tag included).
    pub raw: &'a [u8],
    /// For length-delimited fields, the payload.
    pub payload: Option<&'a [u8]>,
}

pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, EditError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf
            .get(*pos)
            .ok_or(EditError::Malformed("truncated varint"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(EditError::Malformed("varint too long"))
}

pub fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, EditError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let tag = read_varint(buf, &mut pos)?;
        let number = (tag >> 3) as u32;
        let payload = match tag & 7 {
            0 => {
                read_varint(buf, &mut pos)?;
                None
            }
            1 => {
                pos += 8;
                None
            }
            5 => {
                pos += 4;
                None
            }
            2 => {
                let len = read_varint(buf, &mut pos)? as usize;
                let end = pos
                    .checked_add(len)
                    .filter(|&e| e <= buf.len())
                    .ok_or(EditError::Malformed("length past the end"))?;
                let p = &buf[pos..end];
                pos = end;
                Some(p)
            }
            _ => return Err(EditError::Malformed("unsupported wire type")),
        };
        if pos > buf.len() {
            return Err(EditError::Malformed("field past the end"));
        }
        out.push(Field {
            number,
            raw: &buf[start..pos],
            payload,
        });
    }
    Ok(out)
}

/// The string values of field `number` in `msg`.
pub fn strings(msg: &[u8], number: u32) -> Result<Vec<String>, EditError> {
    Ok(fields(msg)?
        .into_iter()
        .filter(|f| f.number == number)
        .filter_map(|f| f.payload)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

pub fn first_string(msg: &[u8], number: u32) -> Result<Option<String>, EditError> {
    Ok(strings(msg, number)?.into_iter().next())
}

pub fn push_len_delimited(number: u32, payload: &[u8], out: &mut Vec<u8>) {
    write_varint(u64::from(number) << 3 | 2, out);
    write_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// `model` with its graph (field 7) replaced by `edit` of it; every other
/// field as it was.
pub fn edit_graph(
    model: &[u8],
    edit: impl FnOnce(&[u8]) -> Result<Vec<u8>, EditError>,
) -> Result<Vec<u8>, EditError> {
    let top = fields(model)?;
    let at = top
        .iter()
        .position(|f| f.number == MODEL_GRAPH && f.payload.is_some())
        .ok_or(EditError::Malformed("no graph"))?;
    let graph = edit(top[at].payload.unwrap_or_default())?;
    let mut out = Vec::with_capacity(model.len());
    for (i, f) in top.iter().enumerate() {
        if i == at {
            push_len_delimited(MODEL_GRAPH, &graph, &mut out);
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Ok(out)
}
