//! Command line, environment and TOML configuration of the binary.
//!
//! Every setting the three share is one field of
//! [`Options`](options::Options): clap reads it from its flag or, failing
//! that, its `MCP_OAUTH_*` variable; figment lays what was given over the
//! TOML file. Precedence: flags > environment > TOML file > defaults.
//!
//! Imports go one way: `args` → `options`; `settings` → `args`,
//! `options`, `server_config`; `server_config` → `options`.

mod args;
mod options;
mod server_config;
mod settings;
#[cfg(test)]
mod tests;

pub(crate) use args::Cli;
pub(crate) use options::LogFormat;
pub(crate) use server_config::ConfigError;
pub(crate) use settings::Settings;
