//! `mcp-oauth-bench hold memory|sqlite [WRAPPER...]`: the authorization server exactly
//! as the introspection rows start it (pinned to CPU 0, the same flags),
//! with an access token for the benchmark's resource, kept running until
//! standard input closes. For profiling one row by hand: it prints, as
//! shell assignments, the server's process id, the URL and the request in
//! the environment `scripts/bench-wrk/request.lua` reads, e.g.
//!
//! ```text
//! mkfifo /tmp/hold; (mcp-oauth-bench hold sqlite < /tmp/hold > /tmp/hold.env &)
//! exec 3> /tmp/hold; sleep 10; . /tmp/hold.env
//! perf record -e cpu-clock -g -p "$PID" -- sleep 10 &
//! taskset -c 1 wrk -t1 -c64 -d10s -s scripts/bench-wrk/request.lua "$URL"
//! exec 3>&-   # the server stops
//! ```
//!
//! Words after the storage run the server under a wrapper, e.g.
//! `hold sqlite valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out`
//! to count instructions per request.

use std::io::Read;

use crate::BoxError;
use crate::flows::token_for;
use crate::groups::{auth_args, auth_server, introspection, server_bin};
use crate::mcp::BENCH_RESOURCE;
use crate::proc::{Server, free_port};

/// Runs `hold` (see the module documentation).
pub(crate) async fn hold(storage: &str, wrapper: &[String]) -> Result<(), BoxError> {
    let db = std::env::temp_dir().join(format!("mcp-oauth-hold-{}.db", std::process::id()));
    let spec = match storage {
        "memory" => "memory".to_owned(),
        "sqlite" => format!("sqlite:{}", db.display()),
        other => return Err(format!("hold memory|sqlite, not {other}").into()),
    };
    let bin = server_bin()?;
    let server = match wrapper.split_first() {
        None => auth_server(&bin, &spec, &[], &[BENCH_RESOURCE.to_owned()]).await?,
        Some((program, words)) => {
            let port = free_port()?;
            let mut args = words.to_vec();
            args.push(bin.display().to_string());
            args.extend(auth_args(&spec, port, &[BENCH_RESOURCE.to_owned()]));
            Server::start(std::path::Path::new(program), &args, port).await?
        }
    };
    let token = token_for(&server.addr(), Some(BENCH_RESOURCE)).await?;
    let request = introspection(&token);
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    println!("PID={}", server.child.id());
    println!("URL={}", quote(&format!("{}{}", server.base, request.path)));
    println!("export MCP_BENCH_METHOD={}", request.method);
    println!(
        "export MCP_BENCH_BODY={}",
        quote(&String::from_utf8_lossy(&request.body))
    );
    println!(
        "export MCP_BENCH_HEADERS={}",
        quote(&request.header_lines())
    );
    // Until standard input closes (or the tool is stopped).
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
    drop(server);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    Ok(())
}
