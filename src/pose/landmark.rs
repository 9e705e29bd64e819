//! TODO: landmark stage (being written).
