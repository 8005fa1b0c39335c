//! Shared pieces of the runnable examples: an MCP server whose tools know
//! who calls them.

pub mod profile;
