//! The rows beyond one server on one core: start-up, PostgreSQL (one and
//! two instances, with storage round trips per request), and the two-core
//! rows (servers and generator unpinned, sharing both cores).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::flows::{Refresh, Returning, token_for};
use crate::generator::measure_fixed;
use crate::groups::{auth_args, auth_server, ceiling, introspection};
use crate::load::{Row, Scenario, measure, measure_on};
use crate::mcp::BENCH_RESOURCE;
use crate::proc::{Server, TWO_CORES, free_port, generator_cpus, pin_self, spawn_pinned};
use crate::{BoxError, Options, device, raw};

/// Time from exec to the first 200 on the metadata document, memory and
/// SQLite (a new file, so migrations run), without a superuser (whose
/// password hash would add one Argon2id); and the binary's size. Printed.
pub(crate) async fn startup(bin: &std::path::Path, _rows: &mut [Row]) -> Result<(), BoxError> {
    let size = std::fs::metadata(bin)?.len();
    println!(
        "server binary: {} ({:.1} MB)",
        bin.display(),
        size as f64 / 1_048_576.0
    );
    for storage in ["memory", "sqlite"] {
        let mut times = Vec::new();
        for run in 0..5 {
            let db = std::env::temp_dir().join(format!(
                "mcp-oauth-bench-start-{}-{run}.db",
                std::process::id()
            ));
            let spec = if storage == "memory" {
                "memory".to_owned()
            } else {
                format!("sqlite:{}", db.display())
            };
            let port = free_port()?;
            let mut args = auth_args(&spec, port, &[BENCH_RESOURCE.to_owned()]);
            // No superuser: its password hash is not start-up's own cost.
            if let Some(i) = args.iter().position(|a| a == "--superuser") {
                args.drain(i..i + 4);
            }
            let addr = format!("127.0.0.1:{port}");
            let start = Instant::now();
            let server = Server {
                child: spawn_pinned(bin, &args, &[])?,
                base: format!("http://{addr}"),
            };
            let mut ready = None;
            while start.elapsed() < Duration::from_secs(20) {
                if raw::get_status(&addr, "/.well-known/oauth-authorization-server")
                    .await
                    .is_ok_and(|s| s == 200)
                {
                    ready = Some(start.elapsed());
                    break;
                }
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            drop(server);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            times.push(ready.ok_or("the server did not answer within 20 s")?);
        }
        times.sort();
        println!(
            "start-up, exec to first 200 on /.well-known/oauth-authorization-server ({storage}, 5 runs): min {:.1} ms, median {:.1} ms",
            times[0].as_secs_f64() * 1000.0,
            times[2].as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// Committed transactions (each statement outside a transaction counts
/// one) of the database `url` names so far, from `pg_stat_database`.
fn xacts(url: &str) -> Result<u64, BoxError> {
    let out = Command::new("psql")
        .args([url, "-tAc"])
        .arg("SELECT pg_stat_force_next_flush(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .rev()
        .find_map(|l| l.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("psql: {text} {}", String::from_utf8_lossy(&out.stderr)).into())
}

/// `row` with the storage transactions per unit it cost, as a suffix of
/// its name.
async fn with_round_trips(url: &str, before: u64, mut row: Row) -> Result<Row, BoxError> {
    // The server's backends report their counts within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = xacts(url)?;
    let per = after.saturating_sub(before) as f64 / row.units.max(1) as f64;
    row.scenario = format!(
        "{} [{per:.1} PostgreSQL transactions per unit]",
        row.scenario
    );
    Ok(row)
}

/// PostgreSQL: one instance, then two sharing the database (same issuer;
/// both pinned to CPU 0, so they share the one server core) behind the same
/// generator.
pub(crate) async fn postgres(
    o: &Options,
    bin: &std::path::Path,
    url: &str,
    rows: &mut Vec<Row>,
) -> Result<(), BoxError> {
    let duration = o.duration();
    let port_a = free_port()?;
    let issuer = format!("http://127.0.0.1:{port_a}");
    let start = |port: u16| {
        let mut args = auth_args(url, port, &[BENCH_RESOURCE.to_owned()]);
        args.extend(["--issuer".to_owned(), issuer.clone()]);
        async move { Server::start(bin, &args, port).await }
    };
    let a = start(port_a).await?;
    let token = token_for(&a.addr(), Some(BENCH_RESOURCE)).await?;
    let fixed = introspection(&token);
    let before = xacts(url)?;
    let row = measure_fixed(
        "POST /introspect (PostgreSQL)",
        &[&a],
        &fixed,
        64,
        duration,
        o.generator,
    )
    .await?;
    rows.push(with_round_trips(url, before, row).await?);
    let units: [(&str, Arc<dyn Scenario>); 3] = [
        (
            "POST /token, device code poll, pending",
            device::IdlePolls::prepare(&a.addr(), 16).await?,
        ),
        ("POST /token, refresh grant (rotation)", Arc::new(Refresh)),
        (
            "flow, returning user: authorize + token",
            Arc::new(Returning),
        ),
    ];
    for (what, scenario) in &units {
        let before = xacts(url)?;
        let row = measure(
            &format!("{what} (PostgreSQL)"),
            &a,
            scenario.clone(),
            16,
            duration,
        )
        .await?;
        rows.push(with_round_trips(url, before, row).await?);
    }
    let b = start(free_port()?).await?;
    let both = [&a, &b];
    let before = xacts(url)?;
    let row = measure_fixed(
        "POST /introspect (PostgreSQL, two instances on CPU 0)",
        &both,
        &fixed,
        64,
        duration,
        o.generator,
    )
    .await?;
    rows.push(with_round_trips(url, before, row).await?);
    for (what, scenario) in [
        (
            "POST /token, refresh grant (rotation)",
            Arc::new(Refresh) as Arc<dyn Scenario>,
        ),
        (
            "flow, returning user: authorize + token",
            Arc::new(Returning),
        ),
    ] {
        let before = xacts(url)?;
        let row = measure_on(
            &format!("{what} (PostgreSQL, two instances on CPU 0)"),
            &both,
            scenario,
            16,
            duration,
        )
        .await?;
        rows.push(with_round_trips(url, before, row).await?);
    }
    Ok(())
}

/// The ceiling, SQLite introspection and returning flows with the servers
/// and the generator all unpinned on both cores.
pub(crate) async fn two_cores(
    o: &Options,
    bin: &std::path::Path,
    rows: &mut Vec<Row>,
) -> Result<(), BoxError> {
    TWO_CORES.store(true, Ordering::Relaxed);
    pin_self(generator_cpus());
    let result = async {
        let mut these = Vec::new();
        ceiling(o, &mut these).await?;
        let db = std::env::temp_dir().join(format!("mcp-oauth-bench-2c-{}.db", std::process::id()));
        let server = auth_server(
            bin,
            &format!("sqlite:{}", db.display()),
            &[],
            &[BENCH_RESOURCE.to_owned()],
        )
        .await?;
        let token = token_for(&server.addr(), Some(BENCH_RESOURCE)).await?;
        these.push(
            measure_fixed(
                "POST /introspect (SQLite)",
                &[&server],
                &introspection(&token),
                64,
                o.duration(),
                o.generator,
            )
            .await?,
        );
        these.push(
            measure(
                "flow, returning user: authorize + token (SQLite)",
                &server,
                Arc::new(Returning),
                16,
                o.duration(),
            )
            .await?,
        );
        drop(server);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        Ok::<_, BoxError>(these)
    }
    .await;
    TWO_CORES.store(false, Ordering::Relaxed);
    pin_self(generator_cpus());
    for mut row in result? {
        row.scenario = format!("{} [two cores, all unpinned]", row.scenario);
        rows.push(row);
    }
    Ok(())
}
