//! `mcp-oauth-server`: not yet a command-line program; the binary target
//! exists so the name is reserved. It says so and exits.

fn main() -> std::process::ExitCode {
    eprintln!(
        "mcp-oauth-server: the command-line server is not built yet; use the library (see its crate docs)"
    );
    std::process::ExitCode::from(2)
}
