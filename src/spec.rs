//! Process specifications (placeholder, being written).
