//! OpenSim TRC marker files: what marker and multi-view systems write.
//!
//! Text, tab-separated: a `PathFileType` line, a line of header names and
//! one of their values (`DataRate`, `NumFrames`, `NumMarkers`, `Units`, …),
//! the marker names (each spanning three columns after `Frame#` and
//! `Time`), the `X1 Y1 Z1 …` line, then one row per frame. Missing
//! coordinates (blank cells, as occluded markers are written) read as NaN.

use std::collections::BTreeMap;

use super::EvalError;

/// One TRC file, coordinates in metres.
#[derive(Clone, Debug, PartialEq)]
pub struct Trc {
    pub rate_hz: f64,
    pub markers: Vec<String>,
    /// Per row: the file's frame number and every marker's position.
    pub frames: Vec<(i64, Vec<[f64; 3]>)>,
}

impl Trc {
    /// Parses TRC text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Trc, EvalError> {
        let bad = |reason: String| EvalError::BadTrc {
            path: source.to_string(),
            reason,
        };
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() < 5 || !lines[0].starts_with("PathFileType") {
            return Err(bad("not a TRC file (no PathFileType header)".into()));
        }
        let names: Vec<&str> = lines[1].split('\t').map(str::trim).collect();
        let values: Vec<&str> = lines[2].split('\t').map(str::trim).collect();
        let header: BTreeMap<&str, &str> = names.iter().copied().zip(values).collect();
        let rate_hz: f64 = header
            .get("DataRate")
            .and_then(|v| v.parse().ok())
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .ok_or_else(|| bad("no usable DataRate".into()))?;
        let scale = match header.get("Units").copied().unwrap_or("m") {
            "m" => 1.0,
            "mm" => 0.001,
            "cm" => 0.01,
            other => return Err(bad(format!("unknown units {other:?}"))),
        };
        let markers: Vec<String> = lines[3]
            .split('\t')
            .skip(2)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if markers.is_empty() {
            return Err(bad("no marker names".into()));
        }
        let mut frames = Vec::new();
        for (n, line) in lines.iter().enumerate().skip(5) {
            if line.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split('\t').collect();
            let frame: i64 = cells[0]
                .trim()
                .parse()
                .map_err(|_| bad(format!("line {}: bad frame number", n + 1)))?;
            let cell = |k: usize| -> f64 {
                cells
                    .get(k)
                    .and_then(|c| c.trim().parse::<f64>().ok())
                    .map_or(f64::NAN, |v| v * scale)
            };
            let points = (0..markers.len())
                .map(|m| [cell(2 + 3 * m), cell(3 + 3 * m), cell(4 + 3 * m)])
                .collect();
            frames.push((frame, points));
        }
        if frames.is_empty() {
            return Err(bad("no frames".into()));
        }
        Ok(Trc {
            rate_hz,
            markers,
            frames,
        })
    }

    /// Index of the marker named `name`.
    pub fn marker(&self, name: &str) -> Option<usize> {
        self.markers.iter().position(|m| m == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "PathFileType\t4\t(X/Y/Z)\tx.trc\n\
DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\n\
60\t60\t2\t2\tmm\n\
Frame#\tTime\tRHip\t\t\tLHip\t\t\n\
\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\
1\t0.0166\t100\t200\t300\t1\t2\t3\n\
2\t0.0333\t110\t210\t310\t\t\t\n";

    #[test]
    fn reads_markers_frames_and_units() {
        let t = Trc::parse(SAMPLE, "x.trc").unwrap();
        assert_eq!(t.rate_hz, 60.0);
        assert_eq!(t.markers, ["RHip", "LHip"]);
        assert_eq!(t.marker("LHip"), Some(1));
        assert_eq!(t.frames.len(), 2);
        assert_eq!(t.frames[0].0, 1);
        assert!((t.frames[0].1[0][2] - 0.3).abs() < 1e-12);
        assert!(t.frames[1].1[1][0].is_nan());
    }

    #[test]
    fn rejects_what_is_not_trc() {
        assert!(Trc::parse("hello", "x").is_err());
        let no_rate = SAMPLE.replace("60\t60", "x\t60");
        assert_eq!(
            Trc::parse(&no_rate, "x").unwrap_err().code(),
            "eval.bad_trc"
        );
    }
}
