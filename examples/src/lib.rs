//! Examples of the mcp-oauth crates; see the `[[example]]` targets.
