//! `keypoints.csv`: keypoints.json's frames as a table, one row per video
//! frame, for spreadsheets and scripts.
//!
//! Columns: `frame, time_s, pose, root_x, root_y, root_z, contact_left,
//! contact_right`, then for each of the 33 BlazePose landmarks (by name)
//! its world position `<name>_x, _y, _z` (metres, output space,
//! hip-centred) and its image position `<name>_px, _py` (pixels) with
//! `<name>_visibility`. Cells without a value (outside the followed span,
//! or no pose) are empty.

use std::fmt::Write;

use super::keypoints::FrameRecord;
use crate::pose::LANDMARK_NAMES;

/// The header line's column names.
pub fn columns() -> Vec<String> {
    let mut c: Vec<String> = [
        "frame",
        "time_s",
        "pose",
        "root_x",
        "root_y",
        "root_z",
        "contact_left",
        "contact_right",
    ]
    .map(String::from)
    .to_vec();
    for name in LANDMARK_NAMES {
        for suffix in ["x", "y", "z"] {
            c.push(format!("{name}_{suffix}"));
        }
    }
    for name in LANDMARK_NAMES {
        for suffix in ["px", "py", "visibility"] {
            c.push(format!("{name}_{suffix}"));
        }
    }
    c
}

/// The CSV text of `frames` (header line first).
pub fn csv_string(frames: &[FrameRecord]) -> String {
    let mut out = columns().join(",");
    out.push('\n');
    for f in frames {
        let _ = write!(out, "{},{},{}", f.frame, f.time_s, u8::from(f.pose));
        match f.root {
            Some(r) => {
                let _ = write!(out, ",{},{},{}", r[0], r[1], r[2]);
            }
            None => out.push_str(",,,"),
        }
        match f.foot_contact {
            Some(c) => {
                let _ = write!(out, ",{},{}", u8::from(c[0]), u8::from(c[1]));
            }
            None => out.push_str(",,"),
        }
        for i in 0..LANDMARK_NAMES.len() {
            match f.world.as_ref().and_then(|w| w.get(i)) {
                Some(w) => {
                    let _ = write!(out, ",{},{},{}", w[0], w[1], w[2]);
                }
                None => out.push_str(",,,"),
            }
        }
        for i in 0..LANDMARK_NAMES.len() {
            match f.landmarks.as_ref().and_then(|l| l.get(i)) {
                Some(l) => {
                    let _ = write!(out, ",{},{},{}", l[0], l[1], l[3]);
                }
                None => out.push_str(",,,"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_every_column() {
        let frames = vec![
            FrameRecord {
                frame: 0,
                time_s: 0.0,
                pose: false,
                landmarks: None,
                world: None,
                root: None,
                foot_contact: None,
                ..FrameRecord::default()
            },
            FrameRecord {
                frame: 1,
                time_s: 0.04,
                pose: true,
                landmarks: Some(vec![[10.5, 20.0, 1.0, 0.9]; 33]),
                world: Some(vec![[0.1, 0.2, 0.3]; 33]),
                root: Some([1.0, 0.9, 2.0]),
                foot_contact: Some([true, false]),
                ..FrameRecord::default()
            },
        ];
        let text = csv_string(&frames);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let n = columns().len();
        assert_eq!(n, 8 + 33 * 6);
        for l in &lines {
            assert_eq!(l.split(',').count(), n, "{l}");
        }
        assert!(lines[2].starts_with("1,0.04,1,1,0.9,2,1,0,0.1,0.2,0.3,"));
        assert!(lines[2].ends_with(",10.5,20,0.9"));
    }
}
