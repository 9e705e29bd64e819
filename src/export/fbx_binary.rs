//! The FBX binary container, version 7.4: a 27-byte header (magic,
//! version); a tree of node records, each `end offset (u32), property
//! count (u32), property bytes (u32), name`, then typed properties, then
//! child records closed by a 13-byte null record; a null record after the
//! top level; the footer. Arrays over 128 bytes are zlib-compressed, as
//! the FBX SDK does. What the nodes mean is [`super::fbx`]'s business.

use std::io::Write;

use flate2::write::ZlibEncoder;

/// The format version written.
pub const VERSION: u32 = 7400;

const HEAD_MAGIC: &[u8] = b"Kaydara FBX Binary  \x00\x1a\x00";
const NULL_RECORD: [u8; 13] = [0; 13];
// Readers check the file id, creation time and footer against each other,
// so every file carries the fixed set the FBX SDK accepts (as Blender does).
pub const FILE_ID: [u8; 16] = [
    0x28, 0xb3, 0x2a, 0xeb, 0xb6, 0x24, 0xcc, 0xc2, 0xbf, 0xc8, 0xb0, 0x2a, 0xa9, 0x2b, 0xfc, 0xf1,
];
pub const CREATION_TIME: &str = "1970-01-01 10:00:00:000";
const FOOT_ID: [u8; 16] = [
    0xfa, 0xbc, 0xab, 0x09, 0xd0, 0xc8, 0xd4, 0x66, 0xb1, 0x76, 0xfb, 0x83, 0x1c, 0xf7, 0x26, 0x7e,
];
const FOOT_MAGIC: [u8; 16] = [
    0xf8, 0x5a, 0x8c, 0x6a, 0xde, 0xf5, 0xd9, 0x7e, 0xec, 0xe9, 0x0c, 0xe3, 0x75, 0x8f, 0x29, 0x0b,
];
/// Arrays up to this many bytes are stored raw, longer ones zlib-compressed.
const COMPRESS_ABOVE: usize = 128;

/// One typed property of a node record.
#[derive(Clone, Debug, PartialEq)]
pub enum Prop {
    Bool(bool),
    I32(i32),
    I64(i64),
    F64(f64),
    Str(String),
    Raw(Vec<u8>),
    ArrI32(Vec<i32>),
    ArrI64(Vec<i64>),
    ArrF32(Vec<f32>),
    ArrF64(Vec<f64>),
}

/// One node record.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: &'static str,
    pub props: Vec<Prop>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn new(name: &'static str, props: Vec<Prop>) -> Node {
        Node {
            name,
            props,
            children: Vec::new(),
        }
    }

    pub fn with(mut self, children: Vec<Node>) -> Node {
        self.children = children;
        self
    }
}

/// The binary encoder.
struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    fn u32_at(&mut self, at: usize, v: u32) {
        self.out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn array<T: Copy>(&mut self, code: u8, items: &[T], bytes: impl Fn(T) -> Vec<u8>) {
        let raw: Vec<u8> = items.iter().flat_map(|&x| bytes(x)).collect();
        self.out.push(code);
        self.out
            .extend_from_slice(&(items.len() as u32).to_le_bytes());
        if raw.len() > COMPRESS_ABOVE {
            let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing into a Vec cannot fail.
            let _ = z.write_all(&raw);
            let data = z.finish().unwrap_or_default();
            self.out.extend_from_slice(&1u32.to_le_bytes());
            self.out
                .extend_from_slice(&(data.len() as u32).to_le_bytes());
            self.out.extend_from_slice(&data);
        } else {
            self.out.extend_from_slice(&0u32.to_le_bytes());
            self.out
                .extend_from_slice(&(raw.len() as u32).to_le_bytes());
            self.out.extend_from_slice(&raw);
        }
    }

    fn prop(&mut self, prop: &Prop) {
        match prop {
            Prop::Bool(v) => self.out.extend_from_slice(&[b'C', u8::from(*v)]),
            Prop::I32(v) => {
                self.out.push(b'I');
                self.out.extend_from_slice(&v.to_le_bytes());
            }
            Prop::I64(v) => {
                self.out.push(b'L');
                self.out.extend_from_slice(&v.to_le_bytes());
            }
            Prop::F64(v) => {
                self.out.push(b'D');
                self.out.extend_from_slice(&v.to_le_bytes());
            }
            Prop::Str(v) => {
                self.out.push(b'S');
                self.out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                self.out.extend_from_slice(v.as_bytes());
            }
            Prop::Raw(v) => {
                self.out.push(b'R');
                self.out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                self.out.extend_from_slice(v);
            }
            Prop::ArrI32(v) => self.array(b'i', v, |x| x.to_le_bytes().to_vec()),
            Prop::ArrI64(v) => self.array(b'l', v, |x| x.to_le_bytes().to_vec()),
            Prop::ArrF32(v) => self.array(b'f', v, |x| x.to_le_bytes().to_vec()),
            Prop::ArrF64(v) => self.array(b'd', v, |x| x.to_le_bytes().to_vec()),
        }
    }

    /// One record and its children. A record with children ends in a null
    /// record; so does an empty one unless it is the last of its list
    /// (what the FBX SDK writes and readers expect).
    fn node(&mut self, node: &Node, is_last: bool) {
        let start = self.out.len();
        self.out.extend_from_slice(&[0; 12]);
        self.out.push(node.name.len() as u8);
        self.out.extend_from_slice(node.name.as_bytes());
        let props_start = self.out.len();
        for prop in &node.props {
            self.prop(prop);
        }
        let props_len = (self.out.len() - props_start) as u32;
        self.nodes(&node.children);
        if node.children.is_empty() && node.props.is_empty() && !is_last {
            self.out.extend_from_slice(&NULL_RECORD);
        }
        let end = self.out.len() as u32;
        self.u32_at(start, end);
        self.u32_at(start + 4, node.props.len() as u32);
        self.u32_at(start + 8, props_len);
    }

    fn nodes(&mut self, nodes: &[Node]) {
        for (i, n) in nodes.iter().enumerate() {
            self.node(n, i + 1 == nodes.len());
        }
        if !nodes.is_empty() {
            self.out.extend_from_slice(&NULL_RECORD);
        }
    }
}

/// Encodes top-level `nodes` as a complete binary FBX 7.4 file.
pub fn encode(nodes: &[Node]) -> Vec<u8> {
    let mut e = Encoder {
        out: Vec::with_capacity(1 << 16),
    };
    e.out.extend_from_slice(HEAD_MAGIC);
    e.out.extend_from_slice(&VERSION.to_le_bytes());
    e.nodes(nodes);
    e.out.extend_from_slice(&FOOT_ID);
    e.out.extend_from_slice(&[0; 4]);
    // Pad to 16 bytes: none when already aligned. Blender writes a whole
    // 16 then, which readers that check the footer (fbxcel: 4 to 19 zero
    // bytes before the version) refuse; one file in 16 hit it.
    let pad = (16 - e.out.len() % 16) % 16;
    e.out.extend(std::iter::repeat_n(0u8, pad));
    e.out.extend_from_slice(&VERSION.to_le_bytes());
    e.out.extend_from_slice(&[0; 120]);
    e.out.extend_from_slice(&FOOT_MAGIC);
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_consistent_offsets_and_footer() {
        let nodes = vec![
            Node::new("A", vec![Prop::I32(7), Prop::Str("x".into())])
                .with(vec![Node::new("B", vec![])]),
            Node::new("C", vec![Prop::ArrF64(vec![1.5; 100])]),
        ];
        let bytes = encode(&nodes);
        assert_eq!(&bytes[..HEAD_MAGIC.len()], HEAD_MAGIC);
        assert_eq!(u32::from_le_bytes(bytes[23..27].try_into().unwrap()), 7400);
        // First record ends where the second begins.
        let end_a = u32::from_le_bytes(bytes[27..31].try_into().unwrap()) as usize;
        assert_eq!(bytes[end_a + 12], 1);
        assert_eq!(bytes[end_a + 13], b'C');
        assert_eq!(&bytes[bytes.len() - 16..], &FOOT_MAGIC);
        // The 800-byte array went through zlib.
        assert!(bytes.len() < 400);
    }
}
