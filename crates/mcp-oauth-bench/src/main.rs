//! `mcp-oauth-bench`: HTTP load against the authorization server, beside
//! the ceiling of a bare actix-web handler measured in the same run.
//!
//! The servers run as separate processes pinned to CPU 0 (`taskset`, when
//! present); the load generator (hyper, one keep-alive connection per
//! worker) runs here. For each scenario it prints requests per second,
//! latency percentiles, and the server's CPU use and resident memory read
//! from `/proc`.
//!
//! ```text
//! scripts/bench            # full run (release build), ~1 minute
//! scripts/bench --quick    # smoke run (CI)
//! ```

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};

const USER: &str = "bench";
const PASSWORD: &str = "bench-password";
const REDIRECT: &str = "http://127.0.0.1/cb";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("bare-server") {
        return bare_server(args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0));
    }
    let quick = args.iter().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 1 } else { 5 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(duration))
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

/// A server process, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs `program args` pinned to CPU 0 when `taskset` exists.
fn spawn_pinned(program: &std::path::Path, args: &[String]) -> Result<Child, BoxError> {
    let pinned = Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(program);
        c
    } else {
        Command::new(program)
    };
    Ok(cmd
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

async fn wait_up(base: &str) -> Result<(), BoxError> {
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{base} did not start").into())
}

/// The pid of the server itself (the child of `taskset` execs into it).
fn server_pid(child: &Child) -> u32 {
    child.id()
}

/// (utime + stime) clock ticks and VmRSS in KiB of a process.
fn proc_stats(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields after the command: state is index 0; utime is field 14 of the
    // full line, i.e. index 11 here, stime index 12.
    let ticks = fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (ticks, rss)
}

/// One request a worker sends over and over.
#[derive(Clone)]
struct Req {
    method: http::Method,
    path: String,
    headers: Vec<(http::HeaderName, String)>,
    body: Bytes,
}

struct Outcome {
    requests: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

/// `conns` keep-alive connections sending `req` for `duration`.
async fn load(addr: &str, req: &Req, conns: usize, duration: Duration) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (addr, req, stop) = (addr.to_owned(), req.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome {
                requests: 0,
                errors: 0,
                latencies_us: Vec::with_capacity(100_000),
            };
            let Ok(stream) = tokio::net::TcpStream::connect(&addr).await else {
                out.errors += 1;
                return out;
            };
            let _ = stream.set_nodelay(true);
            let Ok((mut sender, conn)) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
            else {
                out.errors += 1;
                return out;
            };
            tokio::spawn(conn);
            while !stop.load(Ordering::Relaxed) {
                let mut builder = http::Request::builder()
                    .method(req.method.clone())
                    .uri(&req.path)
                    .header("host", &addr);
                for (k, v) in &req.headers {
                    builder = builder.header(k, v);
                }
                let Ok(request) = builder.body(Full::new(req.body.clone())) else {
                    out.errors += 1;
                    break;
                };
                let start = Instant::now();
                match sender.send_request(request).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        if ok {
                            out.requests += 1;
                            out.latencies_us.push(
                                u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX),
                            );
                        } else {
                            out.errors += 1;
                        }
                    }
                    Err(_) => {
                        out.errors += 1;
                        break;
                    }
                }
            }
            out
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Outcome {
        requests: 0,
        errors: 0,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        if let Ok(o) = t.await {
            total.requests += o.requests;
            total.errors += o.errors;
            total.latencies_us.extend(o.latencies_us);
        }
    }
    total
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

struct Row {
    scenario: String,
    conns: usize,
    rps: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    cpu: f64,
    rss_mb: f64,
    errors: u64,
}

async fn measure(name: &str, server: &Server, req: &Req, conns: usize, duration: Duration) -> Row {
    let pid = server_pid(&server.child);
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Warm-up: connections, caches, allocator.
    let _ = load(&addr, req, conns, Duration::from_millis(300)).await;
    let (t0, _) = proc_stats(pid);
    let start = Instant::now();
    let mut out = load(&addr, req, conns, duration).await;
    let elapsed = start.elapsed().as_secs_f64();
    let (t1, rss) = proc_stats(pid);
    out.latencies_us.sort_unstable();
    Row {
        scenario: name.to_owned(),
        conns,
        rps: out.requests as f64 / elapsed,
        p50: percentile(&out.latencies_us, 0.50),
        p90: percentile(&out.latencies_us, 0.90),
        p99: percentile(&out.latencies_us, 0.99),
        // Clock ticks are 1/100 s on Linux.
        cpu: (t1.saturating_sub(t0)) as f64 / 100.0 / elapsed * 100.0,
        rss_mb: rss as f64 / 1024.0,
        errors: out.errors,
    }
}

/// An access token from the server through the public flow, and the
/// introspection credential the server was started with.
async fn token_from(base: &str) -> Result<String, BoxError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let reg: serde_json::Value = http
        .post(format!("{base}/register"))
        .json(
            &serde_json::json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await?
        .json()
        .await?;
    let client_id = reg["client_id"].as_str().ok_or("no client_id")?.to_owned();
    let verifier = PkceVerifier::generate()?;
    let challenge = PkceChallenge::s256(&verifier);
    let pending: serde_json::Value = http
        .get(format!("{base}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .header("accept", "application/json")
        .send()
        .await?
        .json()
        .await?;
    let r = http
        .post(format!("{base}/login"))
        .json(&serde_json::json!({"username": USER, "password": PASSWORD, "request": pending["request"]}))
        .send()
        .await?;
    let location = r
        .headers()
        .get("location")
        .ok_or("login did not redirect")?
        .to_str()?
        .to_owned();
    let code = url::Url::parse(&location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or("no code")?;
    let t: serde_json::Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.secret()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(t["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned())
}

async fn run(duration: Duration) -> Result<(), BoxError> {
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
    let port = free_port()?;
    let bare = Server {
        child: spawn_pinned(&exe, &["bare-server".into(), port.to_string()])?,
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_up(&bare.base).await?;
    let get = Req {
        method: http::Method::GET,
        path: "/".into(),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    for conns in [1, 64] {
        rows.push(
            measure(
                "bare actix-web handler (ceiling)",
                &bare,
                &get,
                conns,
                duration,
            )
            .await,
        );
    }
    drop(bare);

    // Introspection of one of our JWTs, memory storage.
    for storage in ["memory", "sqlite"] {
        let port = free_port()?;
        let db =
            std::env::temp_dir().join(format!("mcp-oauth-bench-{}-{port}.db", std::process::id()));
        let spec = if storage == "memory" {
            "memory".to_owned()
        } else {
            format!("sqlite:{}", db.display())
        };
        let args: Vec<String> = [
            "--storage",
            &spec,
            "--port",
            &port.to_string(),
            "--superuser",
            USER,
            "--superuser-password",
            PASSWORD,
            "--introspection-credential",
            "rs:bench-secret",
            "--log-level",
            "error",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let server = Server {
            child: spawn_pinned(&server_bin, &args)?,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_up(&server.base).await?;
        let token = token_from(&server.base).await?;
        let introspect = Req {
            method: http::Method::POST,
            path: "/introspect".into(),
            headers: vec![
                (
                    http::header::AUTHORIZATION,
                    format!("Basic {}", Base64::encode_string(b"rs:bench-secret")),
                ),
                (
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body: Bytes::from(format!("token={token}")),
        };
        for conns in [1, 64] {
            rows.push(
                measure(
                    &format!("POST /introspect ({storage})"),
                    &server,
                    &introspect,
                    conns,
                    duration,
                )
                .await,
            );
        }
        drop(server);
        let _ = std::fs::remove_file(&db);
    }

    println!(
        "| scenario | conns | req/s | p50 ms | p90 ms | p99 ms | server CPU % | server RSS MB | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.0} | {:.1} | {} |",
            r.scenario, r.conns, r.rps, r.p50, r.p90, r.p99, r.cpu, r.rss_mb, r.errors
        );
    }
    if rows.iter().any(|r| r.rps == 0.0) {
        return Err("a scenario completed no request".into());
    }
    Ok(())
}
