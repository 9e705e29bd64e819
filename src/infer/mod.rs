//! ONNX Runtime sessions and the model manifest (being written).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model error: {0}")]
    Other(String),
}
impl ModelError {
    pub fn code(&self) -> &'static str {
        "model.error"
    }
}
