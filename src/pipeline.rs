//! The capture pipeline (being written).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("pipeline error: {0}")]
    Other(String),
}
impl PipelineError {
    pub fn code(&self) -> &'static str {
        "pipeline.error"
    }
}
