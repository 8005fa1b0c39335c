//! `mcp-oauth-bench`: load against the authorization server and a protected
//! MCP server, beside the ceiling of a bare actix-web handler measured in
//! the same run.
//!
//! Servers run as separate processes pinned to CPU 0 (`taskset`, when
//! present); the load generator (hyper, one keep-alive connection per
//! worker) runs here. For each scenario it prints units per second (a
//! request, or a whole OAuth flow), latency percentiles, and the server's
//! CPU use and resident memory read from `/proc`; then agent connect times
//! and the cost of one password hash.
//!
//! ```text
//! scripts/bench            # full run (release build), ~3 minutes
//! scripts/bench --quick    # smoke run (CI)
//! ```

mod device;
mod flows;
mod load;
mod mcp;
mod proc;

use std::sync::Arc;
use std::time::Duration;

use base64ct::{Base64, Encoding};
use bytes::Bytes;

use crate::flows::{Fixed, PASSWORD, Password, Returning, USER, token_for};
use crate::load::{Row, Scenario, measure};
use crate::mcp::{Auth, BENCH_RESOURCE, RS_CREDENTIAL, ToolsList};
use crate::proc::{Server, free_port};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("bare-server") => {
            return bare_server(args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0));
        }
        Some("rs-server") => {
            let auth = args
                .get(2)
                .and_then(|a| Auth::parse(a))
                .ok_or("rs-server none|jwt|introspection PORT ISSUER")?;
            let port = args.get(3).and_then(|p| p.parse().ok()).ok_or("port")?;
            return mcp::rs_server(auth, port, args.get(4).ok_or("issuer")?);
        }
        _ => {}
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--only WORD`: run only the groups whose name contains WORD
    // (ceiling, memory, sqlite, lean, mcp, agent), e.g. to profile one of
    // them.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(quick, only))
}

/// The ceiling: a handler that returns a fixed JSON body.
fn bare_server(port: u16) -> Result<(), BoxError> {
    actix_web::rt::System::new().block_on(async move {
        actix_web::HttpServer::new(|| {
            actix_web::App::new().default_service(actix_web::web::to(|| async {
                actix_web::HttpResponse::Ok()
                    .content_type("application/json")
                    .body(r#"{"active":true}"#)
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })?;
    Ok(())
}

/// The allocator settings of the low-memory configuration (docs/server.md):
/// freed memory goes back to the kernel at once instead of after a delay
/// that only allocator activity ends, and arenas are committed on demand.
const LEAN_ALLOCATOR: &[(&str, &str)] = &[
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

/// Starts the authorization server binary on `storage`.
async fn auth_server(
    bin: &std::path::Path,
    storage: &str,
    resources: &[String],
) -> Result<Server, BoxError> {
    auth_server_with_env(bin, storage, &[], resources).await
}

/// [`auth_server`] with extra environment variables.
async fn auth_server_with_env(
    bin: &std::path::Path,
    storage: &str,
    env: &[(&str, &str)],
    resources: &[String],
) -> Result<Server, BoxError> {
    let port = free_port()?;
    // The resource server may introspect the tokens of these resources.
    let credential = resources
        .iter()
        .map(|r| format!("{}:{}:{r}", RS_CREDENTIAL.0, RS_CREDENTIAL.1))
        .collect::<Vec<_>>()
        .join(",");
    let args: Vec<String> = [
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
    .collect();
    Server::start_with_env(bin, &args, port, env).await
}

fn introspection(token: &str) -> Fixed {
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

/// A table line that is not a load scenario (memory readings).
fn note(rows: &mut Vec<Row>, scenario: String, server: &Server) {
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
    });
}

async fn run(quick: bool, only: Option<String>) -> Result<(), BoxError> {
    let wanted = |group: &str| only.as_deref().is_none_or(|o| group.contains(o));
    let duration = Duration::from_secs(if quick { 1 } else { 5 });
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("no exe dir")?;
    let server_bin = dir.join("mcp-oauth-server");
    if !server_bin.exists() {
        return Err(format!(
            "{} not found: build it first (scripts/bench does)",
            server_bin.display()
        )
        .into());
    }
    let mut rows = Vec::new();

    // Ceiling.
    if wanted("ceiling") {
        let port = free_port()?;
        let bare = Server::start(&exe, &["bare-server".into(), port.to_string()], port).await?;
        let get: Arc<dyn Scenario> = Arc::new(Fixed {
            method: http::Method::GET,
            path: "/".into(),
            headers: Vec::new(),
            body: Bytes::new(),
        });
        for conns in [1, 64] {
            rows.push(
                measure(
                    "bare actix-web handler (ceiling)",
                    &bare,
                    get.clone(),
                    conns,
                    duration,
                )
                .await?,
            );
        }
        drop(bare);
    }

    // The authorization server on each embedded storage, then SQLite with
    // the low-memory allocator settings (group "lean").
    for (group, storage, env) in [
        ("memory", "memory", &[][..]),
        ("sqlite", "sqlite", &[][..]),
        ("lean", "sqlite, lean allocator", LEAN_ALLOCATOR),
    ] {
        if !wanted(group) {
            continue;
        }
        let db = std::env::temp_dir().join(format!("mcp-oauth-bench-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&db);
        let spec = if group == "memory" {
            "memory".to_owned()
        } else {
            format!("sqlite:{}", db.display())
        };
        let server =
            auth_server_with_env(&server_bin, &spec, env, &[BENCH_RESOURCE.to_owned()]).await?;
        // Idle: after start-up (which checks the superuser's password) has
        // settled and the allocator has returned what it freed.
        tokio::time::sleep(Duration::from_secs(if quick { 1 } else { 8 })).await;
        note(&mut rows, format!("AS idle RSS ({storage})"), &server);
        let token = token_for(&server.addr(), Some(BENCH_RESOURCE)).await?;
        let introspect: Arc<dyn Scenario> = Arc::new(introspection(&token));
        for conns in [1, 64] {
            rows.push(
                measure(
                    &format!("POST /introspect ({storage})"),
                    &server,
                    introspect.clone(),
                    conns,
                    duration,
                )
                .await?,
            );
        }
        // Agents waiting for their person (RFC 8628): 16, each polling its
        // own pending device code as fast as the connection allows (real
        // agents wait 5 s between polls; this is the cost of a poll).
        let idle = device::IdlePolls::prepare(&server.addr(), 16).await?;
        rows.push(
            measure(
                &format!("POST /token, device code poll, pending ({storage})"),
                &server,
                idle,
                16,
                duration,
            )
            .await?,
        );
        let mut flows = 0;
        for conns in [1, 16] {
            let row = measure(
                &format!("flow, returning user: authorize + token ({storage})"),
                &server,
                Arc::new(Returning),
                conns,
                duration,
            )
            .await?;
            flows += row.units;
            rows.push(row);
        }
        let row = measure(
            &format!("flow, new client: register + authorize + password login + token ({storage})"),
            &server,
            Arc::new(Password),
            16,
            duration,
        )
        .await?;
        flows += row.units;
        rows.push(row);
        note(
            &mut rows,
            format!("AS RSS after {flows} complete flows ({storage})"),
            &server,
        );
        drop(server);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }

    // A protected MCP server: tools/list without auth, with JWT
    // verification, with introspection (both with warm caches).
    if wanted("mcp") {
        let modes = [Auth::None, Auth::Jwt, Auth::Introspection];
        let ports = modes
            .iter()
            .map(|_| free_port())
            .collect::<Result<Vec<_>, _>>()?;
        let resources: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}/mcp"))
            .collect();
        let auth = auth_server(&server_bin, "memory", &resources).await?;
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
                        duration,
                    )
                    .await?,
                );
            }
        }
        drop(auth);
    }

    println!(
        "| scenario | conns | per s | p50 ms | p90 ms | p99 ms | server CPU % | server RSS MB | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        if r.conns == 0 {
            println!("| {} | | | | | | | {:.1} | |", r.scenario, r.rss_mb);
            continue;
        }
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.0} | {:.1} | {} |",
            r.scenario, r.conns, r.per_sec, r.p50, r.p90, r.p99, r.cpu, r.rss_mb, r.errors
        );
    }

    // In-process: an agent from nothing, and the price of a password.
    if wanted("agent") {
        let mut connects = mcp::agent_connects(if quick { 3 } else { 30 }).await?;
        connects.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!();
        println!(
            "agent connect from nothing (401, discovery, registration, password login, token, initialize, tools/list; in-process, {} runs): min {:.2} ms, p50 {:.2} ms, max {:.2} ms",
            connects.len(),
            ms(connects[0]),
            ms(connects[connects.len() / 2]),
            ms(connects[connects.len() - 1]),
        );
        println!(
            "one Argon2id password verification (the server's parameters, this process): {:.2} ms",
            ms(mcp::argon2_verify_cost()?)
        );
    }

    if rows.iter().any(|r| r.conns > 0 && r.per_sec == 0.0) {
        return Err("a scenario completed nothing".into());
    }
    Ok(())
}
