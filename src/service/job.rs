//! The job as the API and the workers both know it: its states (the
//! database's [`JobState`]), the options a client asks for, the files it
//! produces and where they are stored. Handlers (`jobs`) and the worker
//! both build on this; neither imports the other.

use serde::{Deserialize, Serialize};

use crate::config::Quality;
pub use crate::db::jobs::JobState;
use crate::export::{ExportError, ExportOptions, Format};
use crate::rig::RigPreset;
use crate::store::account_prefix;

/// What a client asks a job to do; kept as JSON on the job row and handed
/// to the pipeline by the worker. The OpenAPI document's job request
/// (`api_types::CreateJobRequest`) is made from its schema.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(description = "What a job makes: formats, rig, person, quality")]
pub struct JobOptions {
    /// Output formats wanted (for example `glb`, `keypoints`); empty means
    /// the pipeline's defaults.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Rig naming (for example `generic`, `mixamo`); empty means the default.
    #[serde(default)]
    pub rig: String,
    /// `auto` or a track id.
    #[serde(default = "auto")]
    pub person: String,
    /// Keep the uploaded video after the job (default true).
    #[serde(default = "yes")]
    pub keep_upload: bool,
    /// Which landmark model runs (`fast`, `balanced`, `best`). Absent in a
    /// request: the service's configured preset, written into the stored
    /// options when the job is accepted so price and run agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// A re-solve job: the finished job whose tracks.json is solved again
    /// (for another person, rig or set of files) without running a model.
    /// Set only by `POST /v1/jobs/{id}/resolve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub resolve_of: Option<String>,
}

impl Default for JobOptions {
    /// The same values an empty request gets (keep the upload, pick the
    /// person automatically).
    fn default() -> Self {
        JobOptions {
            outputs: Vec::new(),
            rig: String::new(),
            person: auto(),
            keep_upload: yes(),
            quality: None,
            resolve_of: None,
        }
    }
}

fn auto() -> String {
    "auto".into()
}

fn yes() -> bool {
    true
}

impl JobOptions {
    /// The export choices these options ask for; empty fields keep the
    /// pipeline's defaults (GLB and keypoints.json, generic rig).
    pub fn export_options(&self) -> Result<ExportOptions, ExportError> {
        let mut opts = ExportOptions::default();
        if !self.outputs.is_empty() {
            // `keypoints` is the service's older name for keypoints.json.
            let words: Vec<&str> = self
                .outputs
                .iter()
                .map(|o| if o == "keypoints" { "json" } else { o.as_str() })
                .collect();
            opts.formats = Format::parse_list(&words.join(","))?;
        }
        if !self.rig.is_empty() {
            opts.rig = RigPreset::from_id(&self.rig)
                .ok_or_else(|| ExportError::UnknownRig(self.rig.clone()))?;
            opts.root_motion = crate::export::RootMotion::for_preset(opts.rig);
        }
        Ok(opts)
    }
}

/// One stored output file of a job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutputFile {
    pub name: String,
    pub key: String,
    pub size: u64,
    pub content_type: String,
}

/// Prefix of every object a job writes.
pub fn job_prefix(account_id: &str, job_id: &str) -> String {
    format!("{}jobs/{job_id}/", account_prefix(account_id))
}

/// The content type an output is served with.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("glb") => "model/gltf-binary",
        Some("gltf") => "model/gltf+json",
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        Some("bvh") => "text/plain",
        Some("usda") => "model/vnd.usda",
        Some("mp4") => "video/mp4",
        Some("jpg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}
