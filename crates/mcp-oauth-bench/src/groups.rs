//! The groups of rows of a run, in order: the ceiling (with both
//! generators), start-up, the authorization server on memory, SQLite (and
//! its lean allocator settings), the Python original, PostgreSQL, the
//! two-core rows, and a protected MCP server.

use std::sync::Arc;
use std::time::Duration;

use base64ct::{Base64, Encoding};
use bytes::Bytes;

use crate::flows::{Fixed, PASSWORD, Password, Refresh, Returning, USER, token_for};
use crate::generator::{Generator, measure_fixed};
use crate::load::{Row, Scenario, measure};
use crate::mcp::{Auth, BENCH_RESOURCE, RS_CREDENTIAL, ToolsList};
use crate::proc::{Server, free_port};
use crate::{BoxError, Options, device, python};

/// The allocator settings of the low-memory configuration (docs/server.md):
/// freed memory goes back to the kernel at once instead of after a delay
/// that only allocator activity ends, and arenas are committed on demand.
pub(crate) const LEAN_ALLOCATOR: &[(&str, &str)] = &[
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

/// The authorization server's command line for `storage` on `port`.
pub(crate) fn auth_args(storage: &str, port: u16, resources: &[String]) -> Vec<String> {
    // The resource server may introspect the tokens of these resources.
    let credential = resources
        .iter()
        .map(|r| format!("{}:{}:{r}", RS_CREDENTIAL.0, RS_CREDENTIAL.1))
        .collect::<Vec<_>>()
        .join(",");
    [
        "--storage",
        storage,
        "--port",
        &port.to_string(),
        "--superuser",
        USER,
        "--superuser-password",
        PASSWORD,
        "--introspection-credential",
        &credential,
        "--registrations-per-hour",
        "1000000000",
        // Every worker signs in as the same user, many at once: the
        // throttle (5 attempts in flight or failed per account) would
        // turn most of them away.
        "--login-attempts-per-account",
        "1000000000",
        "--login-attempts-per-address",
        "1000000000",
        "--log-level",
        "error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Starts the authorization server binary on `storage` with extra
/// environment variables.
pub(crate) async fn auth_server(
    bin: &std::path::Path,
    storage: &str,
    env: &[(&str, &str)],
    resources: &[String],
) -> Result<Server, BoxError> {
    let port = free_port()?;
    Server::start_with_env(bin, &auth_args(storage, port, resources), port, env).await
}

/// `POST /introspect` of `token` by the benchmark's resource server.
pub(crate) fn introspection(token: &str) -> Fixed {
    Fixed {
        method: http::Method::POST,
        path: "/introspect".into(),
        headers: vec![
            (
                "authorization".into(),
                format!(
                    "Basic {}",
                    Base64::encode_string(
                        format!("{}:{}", RS_CREDENTIAL.0, RS_CREDENTIAL.1).as_bytes()
                    )
                ),
            ),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body: Bytes::from(format!("token={token}")),
    }
}

/// `GET /` (the bare handler).
fn bare_get() -> Fixed {
    Fixed {
        method: http::Method::GET,
        path: "/".into(),
        headers: Vec::new(),
        body: Bytes::new(),
    }
}

/// A table line that is not a load scenario (memory readings).
pub(crate) fn note(rows: &mut Vec<Row>, scenario: String, server: &Server) {
    let (_, rss) = server.stats();
    rows.push(Row {
        scenario,
        conns: 0,
        per_sec: 0.0,
        p50: 0.0,
        p90: 0.0,
        p99: 0.0,
        cpu: 0.0,
        rss_mb: rss as f64 / 1024.0,
        errors: 0,
        units: 0,
        generator: "",
    });
}

/// The server binary beside this one.
pub(crate) fn server_bin() -> Result<std::path::PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().ok_or("no exe dir")?.join("mcp-oauth-server");
    if !bin.exists() {
        return Err(format!(
            "{} not found: build it first (scripts/bench does)",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// The scenario of the ceiling measured again just before a storage's
/// introspection row at 64 connections.
pub(crate) const ADJACENT_CEILING: &str =
    "bare actix-web handler (ceiling, just before the next row)";

/// The bare handler's process.
async fn bare_server() -> Result<Server, BoxError> {
    let exe = std::env::current_exe()?;
    let port = free_port()?;
    Server::start(&exe, &["bare-server".into(), port.to_string()], port).await
}

/// The bare handler with the run's generator, then with the other one.
pub(crate) async fn ceiling(o: &Options, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let bare = bare_server().await?;
    let mut generators = vec![o.generator];
    if o.generator == Generator::Wrk {
        generators.push(Generator::Own);
    }
    for generator in generators {
        for conns in [1, 64] {
            rows.push(
                measure_fixed(
                    "bare actix-web handler (ceiling)",
                    &[&bare],
                    &bare_get(),
                    conns,
                    o.duration(),
                    generator,
                )
                .await?,
            );
        }
    }
    Ok(())
}

/// The authorization server on one storage: idle memory, introspection,
/// device polls, refresh grants, flows.
pub(crate) async fn storage_group(
    o: &Options,
    bin: &std::path::Path,
    group: &str,
    storage: &str,
    env: &[(&str, &str)],
    rows: &mut Vec<Row>,
) -> Result<(), BoxError> {
    let duration = o.duration();
    let db = std::env::temp_dir().join(format!("mcp-oauth-bench-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let spec = if group == "memory" {
        "memory".to_owned()
    } else {
        format!("sqlite:{}", db.display())
    };
    let server = auth_server(bin, &spec, env, &[BENCH_RESOURCE.to_owned()]).await?;
    // Idle: after start-up (which checks the superuser's password) has
    // settled and the allocator has returned what it freed.
    tokio::time::sleep(Duration::from_secs(if o.quick { 1 } else { 8 })).await;
    note(rows, format!("AS idle RSS ({storage})"), &server);
    let token = token_for(&server.addr(), Some(BENCH_RESOURCE)).await?;
    let bare = bare_server().await?;
    for conns in [1, 64] {
        if conns == 64 {
            // The ceiling again, just before the row it is compared with:
            // the machine's speed drifts over a run by up to a third.
            rows.push(
                measure_fixed(
                    ADJACENT_CEILING,
                    &[&bare],
                    &bare_get(),
                    conns,
                    duration,
                    o.generator,
                )
                .await?,
            );
        }
        rows.push(
            measure_fixed(
                &format!("POST /introspect ({storage})"),
                &[&server],
                &introspection(&token),
                conns,
                duration,
                o.generator,
            )
            .await?,
        );
    }
    let mut flows = 0;
    let units: [(&str, Arc<dyn Scenario>, &[usize]); 4] = [
        (
            "POST /token, device code poll, pending",
            device::IdlePolls::prepare(&server.addr(), 16).await?,
            &[16],
        ),
        (
            "POST /token, refresh grant (rotation)",
            Arc::new(Refresh),
            &[16],
        ),
        (
            "flow, returning user: authorize + token",
            Arc::new(Returning),
            &[1, 16],
        ),
        (
            "flow, new client: register + authorize + password login + token",
            Arc::new(Password),
            &[16],
        ),
    ];
    for (what, scenario, conns_list) in units {
        for &conns in conns_list {
            let row = measure(
                &format!("{what} ({storage})"),
                &server,
                scenario.clone(),
                conns,
                duration,
            )
            .await?;
            if what.starts_with("flow") {
                flows += row.units;
            }
            rows.push(row);
        }
    }
    note(
        rows,
        format!("AS RSS after {flows} complete flows ({storage})"),
        &server,
    );
    drop(server);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    Ok(())
}

/// The Python original: idle memory, introspection at 1 and 64, new-client
/// flows at 16.
pub(crate) async fn python_group(
    o: &Options,
    py: &str,
    rows: &mut Vec<Row>,
) -> Result<(), BoxError> {
    let server = python::start(py).await?;
    tokio::time::sleep(Duration::from_secs(if o.quick { 1 } else { 3 })).await;
    note(rows, "Python original idle RSS".into(), &server);
    let token = python::token(&server.addr()).await?;
    let fixed = Fixed {
        method: http::Method::POST,
        path: "/introspect".into(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: Bytes::from(format!("token={token}")),
    };
    for conns in [1, 64] {
        rows.push(
            measure_fixed(
                "POST /introspect (Python original)",
                &[&server],
                &fixed,
                conns,
                o.duration(),
                o.generator,
            )
            .await?,
        );
    }
    rows.push(
        measure(
            "flow, new client: register + authorize + password login + token (Python original)",
            &server,
            Arc::new(python::NewClient),
            16,
            o.duration(),
        )
        .await?,
    );
    note(rows, "Python original RSS after its flows".into(), &server);
    Ok(())
}

/// A protected MCP server: tools/list without auth, with JWT verification,
/// with introspection (both with warm caches).
pub(crate) async fn mcp_group(
    o: &Options,
    bin: &std::path::Path,
    rows: &mut Vec<Row>,
) -> Result<(), BoxError> {
    let exe = std::env::current_exe()?;
    let modes = [Auth::None, Auth::Jwt, Auth::Introspection];
    let ports = modes
        .iter()
        .map(|_| free_port())
        .collect::<Result<Vec<_>, _>>()?;
    let resources: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/mcp"))
        .collect();
    let auth = auth_server(bin, "memory", &[], &resources).await?;
    for (mode, port) in modes.into_iter().zip(ports) {
        let rs = Server::start(
            &exe,
            &[
                "rs-server".into(),
                mode.as_str().into(),
                port.to_string(),
                auth.base.clone(),
            ],
            port,
        )
        .await?;
        let token = match mode {
            Auth::None => None,
            _ => Some(token_for(&auth.addr(), Some(&format!("{}/mcp", rs.base))).await?),
        };
        let list: Arc<dyn Scenario> = Arc::new(ToolsList { token });
        for conns in [1, 16] {
            rows.push(
                measure(
                    &format!("MCP tools/list, auth: {}", mode.as_str()),
                    &rs,
                    list.clone(),
                    conns,
                    o.duration(),
                )
                .await?,
            );
        }
    }
    Ok(())
}
