//! The fixed-request rows (the ceiling, introspection) and their generator:
//! wrk when it is installed (`scripts/bench` installs it), else this tool's
//! lean engine ([`crate::raw`]). Every ceiling and row of a run that the
//! table compares comes from the same generator; the ceiling is also
//! measured with the other one, so that their agreement is on record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::flows::Fixed;
use crate::load::{Outcome, Row};
use crate::proc::Server;
use crate::{raw, wrk};

/// What sends the fixed requests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Generator {
    /// wrk, one thread, pinned to CPU 1.
    Wrk,
    /// This tool's raw HTTP/1.1 engine, on its one thread pinned to CPU 1.
    Own,
}

impl Generator {
    /// The table's name for it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Wrk => "wrk",
            Self::Own => "ours (raw)",
        }
    }
}

/// Measures `fixed` sent to every server of `servers` (connections spread
/// over them in turn; wrk takes one server only) after a short warm-up.
pub(crate) async fn measure_fixed(
    name: &str,
    servers: &[&Server],
    fixed: &Fixed,
    conns: usize,
    duration: Duration,
    generator: Generator,
) -> Result<Row, BoxError> {
    let addrs: Vec<String> = servers.iter().map(|s| s.addr()).collect();
    let requests: Vec<Arc<Vec<u8>>> = addrs
        .iter()
        .map(|a| Arc::new(raw::encode(fixed, a)))
        .collect();
    let warm = raw::drive(&addrs, &requests, conns, Duration::from_millis(300)).await?;
    if warm.units == 0 {
        return Err(format!(
            "{name}: nothing succeeded in the warm-up: {}",
            warm.first_error.unwrap_or_default()
        )
        .into());
    }
    let ticks = || servers.iter().map(|s| s.stats().0).sum::<u64>();
    let rss = || servers.iter().map(|s| s.stats().1).sum::<u64>();
    let t0 = ticks();
    let start = Instant::now();
    let mut row = match (generator, servers) {
        (Generator::Wrk, [server]) => {
            let base = server.base.clone();
            let fixed = fixed.clone();
            let run = tokio::task::spawn_blocking(move || wrk::run(&base, &fixed, conns, duration))
                .await??;
            let elapsed = start.elapsed().as_secs_f64();
            let (t1, kib) = (ticks(), rss());
            let mut row = Row::from_outcome(
                name,
                conns,
                Outcome::default(),
                elapsed,
                t1.saturating_sub(t0),
                kib,
                generator.label(),
            );
            row.per_sec = run.per_sec;
            row.p50 = run.p50;
            row.p90 = run.p90;
            row.p99 = run.p99;
            row.errors = run.errors;
            row.units = run.requests;
            row
        }
        _ => {
            let out = raw::drive(&addrs, &requests, conns, duration).await?;
            let elapsed = start.elapsed().as_secs_f64();
            let label = if generator == Generator::Wrk {
                "ours (raw; wrk takes one server)"
            } else {
                generator.label()
            };
            Row::from_outcome(
                name,
                conns,
                out,
                elapsed,
                ticks().saturating_sub(t0),
                rss(),
                label,
            )
        }
    };
    row.units += warm.units;
    Ok(row)
}
