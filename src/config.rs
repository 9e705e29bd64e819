//! Configuration (being written).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
}
impl ConfigError {
    pub fn code(&self) -> &'static str {
        "config.invalid"
    }
}
