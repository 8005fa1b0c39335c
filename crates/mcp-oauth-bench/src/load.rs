//! The load engine: `conns` workers, each on its own keep-alive HTTP/1.1
//! connection, repeat one unit of work (a request or a whole flow) for a
//! fixed time; latencies are per unit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::BoxError;
use crate::proc::Server;

/// A response, read whole.
pub(crate) struct Response {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Response {
    /// A header as a string ("" when absent).
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Fails unless the status is `expected`.
    pub(crate) fn expect(self, expected: u16, what: &str) -> Result<Self, BoxError> {
        if self.status.as_u16() == expected {
            Ok(self)
        } else {
            Err(format!(
                "{what}: HTTP {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )
            .into())
        }
    }
}

/// One keep-alive connection.
pub(crate) struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: String,
}

impl Conn {
    /// Opens a connection to `addr` (`host:port`).
    pub(crate) async fn open(addr: &str) -> Result<Self, BoxError> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self {
            sender,
            addr: addr.to_owned(),
        })
    }

    /// Sends one request and reads the whole response.
    pub(crate) async fn send(
        &mut self,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Response, BoxError> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(builder.body(Full::new(body.into()))?)
            .await?;
        let (parts, body) = response.into_parts();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await?.to_bytes(),
        })
    }

    /// GET.
    pub(crate) async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, BoxError> {
        self.send(http::Method::GET, path, headers, Bytes::new())
            .await
    }

    /// POST of a form body.
    pub(crate) async fn post_form(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Result<Response, BoxError> {
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        let body = serde_urlencoded::to_string(form)?;
        self.send(http::Method::POST, path, &all, body).await
    }

    /// POST of a JSON body.
    pub(crate) async fn post_json(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        json: &serde_json::Value,
    ) -> Result<Response, BoxError> {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(http::Method::POST, path, &all, json.to_string())
            .await
    }
}

/// A worker's repeated unit of work on its connection.
#[async_trait::async_trait]
pub(crate) trait Worker: Send {
    /// Performs one unit (a request, or a whole flow).
    async fn once(&mut self, conn: &mut Conn) -> Result<(), BoxError>;
}

/// Makes one worker per connection (per-worker setup happens here, outside
/// the measurement).
#[async_trait::async_trait]
pub(crate) trait Scenario: Send + Sync {
    /// Sets up a worker on `conn`.
    async fn worker(&self, conn: &mut Conn) -> Result<Box<dyn Worker>, BoxError>;
}

/// What a run of workers did.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) units: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) latencies_us: Vec<u32>,
}

impl Outcome {
    /// Adds another worker's outcome to this one.
    pub(crate) fn merge(&mut self, other: Outcome) {
        self.units += other.units;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// `conns` workers, spread over `addrs` in turn, repeating their unit for
/// `duration`.
async fn drive(
    addrs: &[String],
    scenario: Arc<dyn Scenario>,
    conns: usize,
    duration: Duration,
) -> Result<Outcome, BoxError> {
    // Set every worker up before the clock starts.
    let mut workers = Vec::new();
    for i in 0..conns {
        let addr = addrs.get(i % addrs.len()).ok_or("no address")?;
        let mut setup = Conn::open(addr).await?;
        workers.push((addr, scenario.worker(&mut setup).await?));
    }
    // Fresh connections, so none has idled past the server's keep-alive
    // while the others were being set up.
    let mut prepared = Vec::new();
    for (addr, worker) in workers {
        prepared.push((Conn::open(addr).await?, worker));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = prepared
        .into_iter()
        .map(|(mut conn, mut worker)| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut out = Outcome {
                    latencies_us: Vec::with_capacity(100_000),
                    ..Outcome::default()
                };
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    match worker.once(&mut conn).await {
                        Ok(()) => {
                            out.units += 1;
                            out.latencies_us.push(
                                u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX),
                            );
                        }
                        Err(e) => {
                            out.errors += 1;
                            out.first_error.get_or_insert_with(|| e.to_string());
                            // The connection may be unusable now: reopen.
                            match Conn::open(&conn.addr).await {
                                Ok(c) => conn = c,
                                Err(_) => break,
                            }
                        }
                    }
                }
                out
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Outcome::default();
    for t in tasks {
        total.merge(t.await?);
    }
    Ok(total)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

/// One line of the result table.
pub(crate) struct Row {
    pub(crate) scenario: String,
    pub(crate) conns: usize,
    pub(crate) per_sec: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) cpu: f64,
    pub(crate) rss_mb: f64,
    pub(crate) errors: u64,
    /// Units completed, warm-up included.
    pub(crate) units: u64,
    /// What generated the load.
    pub(crate) generator: &'static str,
}

impl Row {
    /// The row of a finished run: `out` over `elapsed` seconds, the
    /// server(s) having used `ticks` CPU clock ticks meanwhile.
    pub(crate) fn from_outcome(
        name: &str,
        conns: usize,
        mut out: Outcome,
        elapsed: f64,
        ticks: u64,
        rss_kib: u64,
        generator: &'static str,
    ) -> Self {
        if let Some(e) = &out.first_error {
            eprintln!("{name} ({conns} conns): {} errors, first: {e}", out.errors);
        }
        out.latencies_us.sort_unstable();
        Row {
            scenario: name.to_owned(),
            conns,
            per_sec: out.units as f64 / elapsed,
            p50: percentile(&out.latencies_us, 0.50),
            p90: percentile(&out.latencies_us, 0.90),
            p99: percentile(&out.latencies_us, 0.99),
            // Clock ticks are 1/100 s on Linux.
            cpu: ticks as f64 / 100.0 / elapsed * 100.0,
            rss_mb: rss_kib as f64 / 1024.0,
            errors: out.errors,
            units: out.units,
            generator,
        }
    }
}

/// Measures `scenario` against `server` after a short warm-up.
pub(crate) async fn measure(
    name: &str,
    server: &Server,
    scenario: Arc<dyn Scenario>,
    conns: usize,
    duration: Duration,
) -> Result<Row, BoxError> {
    measure_on(name, &[server], scenario, conns, duration).await
}

/// [`measure`] with the workers spread over several servers.
pub(crate) async fn measure_on(
    name: &str,
    servers: &[&Server],
    scenario: Arc<dyn Scenario>,
    conns: usize,
    duration: Duration,
) -> Result<Row, BoxError> {
    let addrs: Vec<String> = servers.iter().map(|s| s.addr()).collect();
    let ticks = || servers.iter().map(|s| s.stats().0).sum::<u64>();
    let warm = drive(&addrs, scenario.clone(), conns, Duration::from_millis(300)).await?;
    let t0 = ticks();
    let start = Instant::now();
    let out = drive(&addrs, scenario, conns, duration).await?;
    let elapsed = start.elapsed().as_secs_f64();
    let t1 = ticks();
    let rss = servers.iter().map(|s| s.stats().1).sum::<u64>();
    let mut row = Row::from_outcome(
        name,
        conns,
        out,
        elapsed,
        t1.saturating_sub(t0),
        rss,
        "ours (hyper)",
    );
    row.units += warm.units;
    Ok(row)
}
