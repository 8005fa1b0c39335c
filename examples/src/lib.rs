//! Shared pieces of the runnable examples: an MCP server whose tools know
//! who calls them, and one that calls an upstream provider's API as them.

pub mod profile;
pub mod upstream_api;
