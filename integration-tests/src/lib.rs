//! Shared helpers for the integration tests (filled as the crates arrive).
