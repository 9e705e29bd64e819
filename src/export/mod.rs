//! Output writers: GLB ([`gltf`]), FBX binary 7.4 ([`fbx`]), BVH ([`bvh`]),
//! USD ([`usd`]), keypoints.json ([`keypoints`]) and CSV ([`csv`]), all
//! from one solved motion renamed by a rig preset ([`rig`]), with the
//! preset's bone axes ([`axes`]).

pub mod axes;
pub mod bvh;
pub mod csv;
pub mod euler;
pub mod fbx;
pub mod fbx_binary;
pub mod gltf;
pub mod keypoints;
pub mod rig;
pub mod usd;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use axes::BoneAxis;
pub use rig::{ExportRig, RootMotion, SourceSpan, Space, TimeBase, Units, UpAxis};

use crate::rig::{Clip, RigPreset, Skeleton};

/// What can go wrong while writing outputs.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("could not write {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("there is no motion to export (no frame with a pose)")]
    EmptyMotion,
    #[error("invalid export request: {0}")]
    Invalid(String),
    #[error("unknown output format {0:?}; choose from glb, fbx, bvh, usd, json, csv")]
    UnknownFormat(String),
    #[error("unknown rig preset {0:?}; choose from generic, mixamo, ue5")]
    UnknownRig(String),
    #[error("unknown {option} {value:?}; choose from {choices}")]
    UnknownOption {
        option: &'static str,
        value: String,
        choices: &'static str,
    },
    #[error("cannot read keypoints from {path}: {reason}")]
    BadKeypoints { path: String, reason: String },
}

impl ExportError {
    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Io { .. } => "export.io",
            ExportError::EmptyMotion => "export.empty_motion",
            ExportError::Invalid(_) => "export.invalid",
            ExportError::UnknownFormat(_) => "export.unknown_format",
            ExportError::UnknownRig(_) => "export.unknown_rig",
            ExportError::UnknownOption { .. } => "export.unknown_option",
            ExportError::BadKeypoints { .. } => "export.bad_keypoints",
        }
    }

    /// True when the request or its input is at fault (not the machine).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, ExportError::Io { .. } | ExportError::Invalid(_))
    }
}

/// One output file kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Glb,
    Fbx,
    Bvh,
    Usd,
    Json,
    Csv,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Glb,
        Format::Fbx,
        Format::Bvh,
        Format::Usd,
        Format::Json,
        Format::Csv,
    ];

    /// The name on the command line.
    pub const fn id(self) -> &'static str {
        match self {
            Format::Glb => "glb",
            Format::Fbx => "fbx",
            Format::Bvh => "bvh",
            Format::Usd => "usd",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }

    /// The file this format is written to in the output folder.
    pub const fn file_name(self) -> &'static str {
        match self {
            Format::Glb => "motion.glb",
            Format::Fbx => "motion.fbx",
            Format::Bvh => "motion.bvh",
            Format::Usd => "motion.usda",
            Format::Json => "keypoints.json",
            Format::Csv => "keypoints.csv",
        }
    }

    /// Parses a comma-separated list (`glb,fbx,bvh`), keeping the first
    /// occurrence of each. An empty list is refused.
    pub fn parse_list(list: &str) -> Result<Vec<Format>, ExportError> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim) {
            let f = Format::ALL
                .into_iter()
                .find(|f| f.id().eq_ignore_ascii_case(item))
                .ok_or_else(|| ExportError::UnknownFormat(item.to_string()))?;
            if !out.contains(&f) {
                out.push(f);
            }
        }
        Ok(out)
    }
}

/// Which files to write and how.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    pub formats: Vec<Format>,
    pub rig: RigPreset,
    pub root_motion: RootMotion,
    /// Units and axes of FBX and BVH (GLB is metres, Y up by its spec).
    pub space: Space,
    /// The local axis along each bone in FBX and GLB; `None` is the
    /// preset's convention ([`BoneAxis::for_preset`]).
    pub bone_axis: Option<BoneAxis>,
    /// Keys at the video's timestamps or from 0.
    pub time_base: TimeBase,
}

impl Default for ExportOptions {
    /// `motion.glb` and `keypoints.json`, generic names, root motion on the
    /// hips, FBX/BVH in centimetres with Y up.
    fn default() -> Self {
        ExportOptions {
            formats: vec![Format::Glb, Format::Json],
            rig: RigPreset::Generic,
            root_motion: RootMotion::Hips,
            space: Space {
                units: Units::Centimetres,
                up: UpAxis::Y,
            },
            bone_axis: None,
            time_base: TimeBase::Video,
        }
    }
}

impl ExportOptions {
    /// Builds options from command-line words, each error with its code.
    /// `auto` (root motion, bone axis) is the preset's convention.
    pub fn parse(words: &OptionWords<'_>) -> Result<ExportOptions, ExportError> {
        let unknown = |option, value: &str, choices| ExportError::UnknownOption {
            option,
            value: value.to_string(),
            choices,
        };
        let auto = |w: &str| w.trim().eq_ignore_ascii_case("auto");
        let rig = RigPreset::from_id(words.rig)
            .ok_or_else(|| ExportError::UnknownRig(words.rig.into()))?;
        let root_motion = if auto(words.root_motion) {
            RootMotion::for_preset(rig)
        } else {
            RootMotion::from_id(words.root_motion).ok_or_else(|| {
                unknown(
                    "root motion",
                    words.root_motion,
                    "auto, hips, root, root-heading",
                )
            })?
        };
        let bone_axis = if auto(words.bone_axis) {
            None
        } else {
            Some(
                BoneAxis::from_id(words.bone_axis)
                    .ok_or_else(|| unknown("bone axis", words.bone_axis, "auto, y, x"))?,
            )
        };
        Ok(ExportOptions {
            formats: Format::parse_list(words.formats)?,
            rig,
            root_motion,
            space: Space {
                units: Units::from_id(words.units)
                    .ok_or_else(|| unknown("unit", words.units, "cm, m"))?,
                up: UpAxis::from_id(words.up)
                    .ok_or_else(|| unknown("up axis", words.up, "y, z"))?,
            },
            bone_axis,
            time_base: TimeBase::from_id(words.time)
                .ok_or_else(|| unknown("time base", words.time, "video, zero"))?,
        })
    }
}

/// The command line's words for [`ExportOptions::parse`].
#[derive(Clone, Copy, Debug)]
pub struct OptionWords<'a> {
    pub formats: &'a str,
    pub rig: &'a str,
    pub root_motion: &'a str,
    pub units: &'a str,
    pub up: &'a str,
    pub bone_axis: &'a str,
    pub time: &'a str,
}

impl Default for OptionWords<'_> {
    /// The command line's defaults.
    fn default() -> Self {
        OptionWords {
            formats: "glb,json",
            rig: "generic",
            root_motion: "auto",
            units: "cm",
            up: "y",
            bone_axis: "auto",
            time: "video",
        }
    }
}

/// Writes the rig formats among `opts.formats` (GLB, FBX, BVH) and the CSV
/// of `frames` into `out_dir`; keypoints.json is the caller's (it carries
/// the run's report). With `source`, keys sit at its video times (or from
/// 0, by `opts.time_base`) and each file records it. Returns the paths
/// written, in `opts.formats` order.
pub fn write_motion_files(
    out_dir: &Path,
    opts: &ExportOptions,
    skel: &Skeleton,
    clip: &Clip,
    source: Option<&SourceSpan>,
    frames: &[keypoints::FrameRecord],
) -> Result<Vec<PathBuf>, ExportError> {
    let mut rig = ExportRig::new(skel, clip, opts.rig, opts.root_motion)?;
    if let Some(axis) = opts.bone_axis {
        rig.bone_axis = axis;
    }
    if let Some(source) = source {
        rig = rig.with_source(source.clone(), opts.time_base)?;
    }
    let mut written = Vec::new();
    for &format in &opts.formats {
        let path = out_dir.join(format.file_name());
        let bytes = match format {
            Format::Glb => gltf::glb_bytes_rig(&rig)?,
            Format::Fbx => fbx::fbx_bytes(&rig, opts.space)?,
            Format::Bvh => bvh::bvh_string(&rig, opts.space).into_bytes(),
            Format::Usd => usd::usda_string(&rig)?.into_bytes(),
            Format::Csv => csv::csv_string(frames).into_bytes(),
            Format::Json => continue,
        };
        write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// `vidmocap convert`: re-exports the motion of a keypoints.json (written
/// by `process`) into `out_dir`, without the models. The rig is re-solved
/// from the file's world landmarks and root, so the result equals what
/// `process` wrote for the same options. `json` copies the input file.
pub fn convert(
    input: &Path,
    out_dir: &Path,
    opts: &ExportOptions,
) -> Result<Vec<PathBuf>, ExportError> {
    let file = keypoints::read(input)?;
    let (skel, clip) = file.motion()?;
    let source = file.source_span(clip.len());
    let io = |path: &Path, e: std::io::Error| ExportError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
    let mut written =
        write_motion_files(out_dir, opts, &skel, &clip, source.as_ref(), &file.frames)?;
    if opts.formats.contains(&Format::Json) {
        let target = out_dir.join(Format::Json.file_name());
        let same = match (input.canonicalize(), target.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            let bytes = std::fs::read(input).map_err(|e| io(input, e))?;
            write_atomic(&target, &bytes)?;
        }
        written.push(target);
        sort_outputs(&opts.formats, &mut written);
    }
    Ok(written)
}

/// Orders output paths as their formats were asked for.
pub fn sort_outputs(formats: &[Format], paths: &mut [PathBuf]) {
    let rank = |p: &PathBuf| {
        formats
            .iter()
            .position(|f| p.file_name().is_some_and(|n| n == f.file_name()))
            .unwrap_or(usize::MAX)
    };
    paths.sort_by_key(rank);
}

/// Writes `bytes` beside `path` and renames it into place, so a failed
/// export never leaves a truncated file where a good one is expected.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io = |reason: String| ExportError::Io {
        path: path.display().to_string(),
        reason,
    };
    let name = path
        .file_name()
        .ok_or_else(|| io("the path does not name a file".into()))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    if let Err(e) = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)) {
        // Best effort: the temporary may not exist if the write failed early.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_lists_and_options_parse_with_stable_codes() {
        assert_eq!(
            Format::parse_list("glb, FBX,bvh,glb").unwrap(),
            vec![Format::Glb, Format::Fbx, Format::Bvh]
        );
        assert_eq!(
            Format::parse_list("glb,obj").unwrap_err().code(),
            "export.unknown_format"
        );
        assert_eq!(
            Format::parse_list("").unwrap_err().code(),
            "export.unknown_format"
        );
        let words = OptionWords {
            formats: "fbx",
            rig: "mixamo",
            root_motion: "root",
            units: "m",
            up: "z",
            ..OptionWords::default()
        };
        let o = ExportOptions::parse(&words).unwrap();
        assert_eq!(o.rig, RigPreset::Mixamo);
        assert_eq!(o.root_motion, RootMotion::RootBone);
        assert_eq!(o.space.up, UpAxis::Z);
        assert_eq!((o.bone_axis, o.time_base), (None, TimeBase::Video));
        // `auto` is each preset's convention: a root bone for Unreal.
        let ue5 = |root_motion| OptionWords {
            rig: "ue5",
            root_motion,
            ..OptionWords::default()
        };
        let o = ExportOptions::parse(&ue5("auto")).unwrap();
        assert_eq!(o.root_motion, RootMotion::RootBone);
        let o = ExportOptions::parse(&ue5("root-heading")).unwrap();
        assert_eq!(o.root_motion, RootMotion::RootBoneHeading);
        let bad = ExportOptions::parse(&OptionWords {
            rig: "maya",
            ..words
        });
        assert_eq!(bad.unwrap_err().code(), "export.unknown_rig");
        for bad in [
            OptionWords {
                units: "inch",
                ..words
            },
            OptionWords {
                bone_axis: "z",
                ..words
            },
            OptionWords {
                time: "later",
                ..words
            },
        ] {
            let err = ExportOptions::parse(&bad).unwrap_err();
            assert_eq!(err.code(), "export.unknown_option");
        }
    }
}
