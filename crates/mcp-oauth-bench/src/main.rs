//! `mcp-oauth-bench`: load against the authorization server, the Python
//! original and a protected MCP server, beside the ceiling of a bare
//! actix-web handler measured in the same run.
//!
//! Servers run as separate processes pinned to CPU 0 (`taskset`, when
//! present); the load runs on CPU 1: fixed requests (the ceiling,
//! introspection) from wrk when it is installed, else from this tool's raw
//! engine, and whole flows from this tool (hyper, one keep-alive connection
//! per worker, one thread). For each scenario it prints units per second (a
//! request, or a whole OAuth flow), latency percentiles, and the server's
//! CPU use and resident memory read from `/proc`; then start-up, agent
//! connect times and the cost of one password hash.
//!
//! ```text
//! scripts/bench            # full run (release build)
//! scripts/bench --quick    # smoke run (CI)
//! mcp-oauth-bench hold sqlite  # one server held for a profiler (src/hold.rs)
//! ```

mod device;
mod extra;
mod flows;
mod generator;
mod groups;
mod hold;
mod load;
mod mcp;
mod proc;
mod python;
mod raw;
mod report;
mod run;
mod wrk;

use std::time::Duration;

use crate::generator::Generator;
use crate::proc::pin_self;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the command line asked for.
pub(crate) struct Options {
    /// Smoke run: short rows.
    pub(crate) quick: bool,
    /// Only the groups whose name contains this word.
    pub(crate) only: Option<String>,
    /// The generator of the fixed-request rows.
    pub(crate) generator: Generator,
    /// The Python original's interpreter (a venv with `mcp-oauth`).
    pub(crate) python: Option<String>,
    /// A PostgreSQL database the tool may fill (scratch).
    pub(crate) postgres: Option<String>,
}

impl Options {
    /// Whether `group` is to run.
    pub(crate) fn wanted(&self, group: &str) -> bool {
        self.only.as_deref().is_none_or(|o| group.contains(o))
    }

    /// Time per row.
    pub(crate) fn duration(&self) -> Duration {
        Duration::from_secs(if self.quick { 1 } else { 5 })
    }
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("bare-server") => {
            return bare_server(args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0));
        }
        Some("rs-server") => {
            let auth = args
                .get(2)
                .and_then(|a| mcp::Auth::parse(a))
                .ok_or("rs-server none|jwt|introspection PORT ISSUER")?;
            let port = args.get(3).and_then(|p| p.parse().ok()).ok_or("port")?;
            return mcp::rs_server(auth, port, args.get(4).ok_or("issuer")?);
        }
        Some("hold") => {
            pin_self(proc::generator_cpus());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let storage = args.get(2).map_or("sqlite", String::as_str);
            return rt.block_on(hold::hold(storage, args.get(3..).unwrap_or_default()));
        }
        _ => {}
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let generator = match value("--generator").as_deref() {
        Some("wrk") => Generator::Wrk,
        Some("own") => Generator::Own,
        Some(other) => return Err(format!("--generator wrk|own, not {other}").into()),
        None if wrk::available() => Generator::Wrk,
        None => Generator::Own,
    };
    if generator == Generator::Wrk && !wrk::available() {
        return Err("--generator wrk: wrk is not installed".into());
    }
    let options = Options {
        quick: args.iter().any(|a| a == "--quick"),
        // `--only WORD`: run only the groups whose name contains WORD
        // (ceiling, startup, memory, sqlite, lean, python, postgres,
        // twocore, mcp, agent), e.g. to profile one of them.
        only: value("--only"),
        generator,
        python: value("--python"),
        postgres: value("--postgres"),
    };
    // The generator gets the core the servers do not use; one thread.
    pin_self(proc::generator_cpus());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rows = rt.block_on(run::run(&options))?;
    report::print(&rows, &options);
    drop(rt);
    // In-process: an agent from nothing, and the price of a password (both
    // cores, as an agent and its servers would have).
    if options.wanted("agent") {
        pin_self("0,1");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(agent(options.quick))?;
    }
    if rows.iter().any(|r| r.conns > 0 && r.per_sec == 0.0) {
        return Err("a scenario completed nothing".into());
    }
    Ok(())
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

/// Agent connect times and one Argon2id verification, printed.
async fn agent(quick: bool) -> Result<(), BoxError> {
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
    Ok(())
}
