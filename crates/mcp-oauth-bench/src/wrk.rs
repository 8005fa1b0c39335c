//! wrk as the generator of the fixed-request rows: one wrk thread on the
//! core the servers do not use, `conns` connections, the request described
//! to `scripts/bench-wrk/request.lua` through the environment.

use std::process::Command;
use std::time::Duration;

use crate::BoxError;
use crate::flows::Fixed;

/// The Lua script that turns the environment into wrk's request.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/bench-wrk/request.lua"
);

/// Whether `wrk` can be run.
pub(crate) fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wrk"))
}

/// What one wrk run reported.
pub(crate) struct WrkRun {
    pub(crate) per_sec: f64,
    pub(crate) requests: u64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    /// Non-2xx/3xx responses and socket errors.
    pub(crate) errors: u64,
}

/// Runs wrk against `base` (`http://host:port`) with `fixed`.
pub(crate) fn run(
    base: &str,
    fixed: &Fixed,
    conns: usize,
    duration: Duration,
) -> Result<WrkRun, BoxError> {
    let out = Command::new("taskset")
        .args(["-c", crate::proc::generator_cpus(), "wrk", "-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .args(["--latency", "-s", SCRIPT])
        .arg(format!("{base}{}", fixed.path))
        .env("MCP_BENCH_METHOD", fixed.method.as_str())
        .env(
            "MCP_BENCH_BODY",
            String::from_utf8_lossy(&fixed.body).as_ref(),
        )
        .env("MCP_BENCH_HEADERS", fixed.header_lines())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    parse(&text).ok_or_else(|| format!("wrk output not understood: {text}").into())
}

/// Reads wrk's `--latency` report.
fn parse(text: &str) -> Option<WrkRun> {
    let mut run = WrkRun {
        per_sec: 0.0,
        requests: 0,
        p50: 0.0,
        p90: 0.0,
        p99: 0.0,
        errors: 0,
    };
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => run.per_sec = v.parse().ok()?,
            [n, "requests", "in", ..] => run.requests = n.parse().ok()?,
            ["50%", v] => run.p50 = millis(v)?,
            ["90%", v] => run.p90 = millis(v)?,
            ["99%", v] => run.p99 = millis(v)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => run.errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                run.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    (run.per_sec > 0.0).then_some(run)
}

/// A wrk duration (`635.00us`, `1.20ms`, `2.00s`) in milliseconds.
fn millis(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    match unit {
        "us" => Some(n / 1000.0),
        "ms" => Some(n),
        "s" => Some(n * 1000.0),
        "m" => Some(n * 60_000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wrk_report() {
        let report = "Running 5s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n  Latency Distribution\n     50%  635.00us\n     75%  800.00us\n     90%    1.20ms\n     99%    2.50ms\n  512345 requests in 5.00s, 60.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\nRequests/sec: 102469.00\nTransfer/sec:     12.00MB\n";
        let run = parse(report).expect("parsed");
        assert_eq!(run.requests, 512_345);
        assert!((run.per_sec - 102_469.0).abs() < 0.1);
        assert!((run.p50 - 0.635).abs() < 1e-9);
        assert!((run.p90 - 1.2).abs() < 1e-9);
        assert!((run.p99 - 2.5).abs() < 1e-9);
        assert_eq!(run.errors, 7);
    }
}
