//! The lean engine for one fixed request sent over and over (the ceiling,
//! introspection): the request's bytes are built once, every connection
//! writes them and reads one response (status line, headers, a
//! `Content-Length` body), as wrk does. No HTTP client library, no
//! allocation per request; it runs on the tool's one thread, pinned to the
//! core the servers do not use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::BoxError;
use crate::flows::Fixed;
use crate::load::Outcome;

/// The wire form of `fixed` for `host` (`host:port`).
pub(crate) fn encode(fixed: &Fixed, host: &str) -> Vec<u8> {
    let mut req = format!(
        "{} {} HTTP/1.1\r\nhost: {host}\r\n",
        fixed.method, fixed.path
    );
    for (name, value) in &fixed.headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if !fixed.body.is_empty() || fixed.method == http::Method::POST {
        req.push_str(&format!("content-length: {}\r\n", fixed.body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(&fixed.body);
    bytes
}

/// `conns` connections, spread over `addrs` in turn, each sending
/// `request` (one of `requests`, by address) back to back for `duration`.
pub(crate) async fn drive(
    addrs: &[String],
    requests: &[Arc<Vec<u8>>],
    conns: usize,
    duration: Duration,
) -> Result<Outcome, BoxError> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(conns);
    for i in 0..conns {
        let addr = addrs.get(i % addrs.len()).ok_or("no address")?.clone();
        let request = requests
            .get(i % requests.len())
            .ok_or("no request")?
            .clone();
        let stream = connect(&addr).await?;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            connection(stream, &addr, &request, &stop).await
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Outcome::default();
    for t in tasks {
        total.merge(t.await?);
    }
    Ok(total)
}

async fn connect(addr: &str) -> Result<TcpStream, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One connection's loop: request, whole response, again.
async fn connection(
    mut stream: TcpStream,
    addr: &str,
    request: &[u8],
    stop: &AtomicBool,
) -> Outcome {
    let mut out = Outcome {
        latencies_us: Vec::with_capacity(200_000),
        ..Outcome::default()
    };
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        match exchange(&mut stream, request, &mut buf).await {
            Ok(status) if (200..300).contains(&status) => {
                out.units += 1;
                out.latencies_us
                    .push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            Ok(status) => {
                out.errors += 1;
                out.first_error
                    .get_or_insert_with(|| format!("HTTP {status}"));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
                match connect(addr).await {
                    Ok(s) => stream = s,
                    Err(_) => break,
                }
            }
        }
    }
    out
}

/// Writes `request`, reads one response into `buf`; its status.
async fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut [u8]) -> Result<u16, BoxError> {
    stream.write_all(request).await?;
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response.parse(&buf[..filled])? {
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("no content-length")?;
            let status = response.code.unwrap_or(0);
            let total = head + length;
            if total > buf.len() {
                return Err("response too large".into());
            }
            while filled < total {
                let n = stream.read(&mut buf[filled..total]).await?;
                if n == 0 {
                    return Err("connection closed".into());
                }
                filled += n;
            }
            return Ok(status);
        }
        if filled == buf.len() {
            return Err("response head too large".into());
        }
    }
}

/// The status of one `GET path` on a fresh connection to `addr`.
pub(crate) async fn get_status(addr: &str, path: &str) -> Result<u16, BoxError> {
    let fixed = Fixed {
        method: http::Method::GET,
        path: path.to_owned(),
        headers: vec![("connection".into(), "close".into())],
        body: bytes::Bytes::new(),
    };
    let mut stream = connect(addr).await?;
    let mut buf = vec![0u8; 64 * 1024];
    exchange(&mut stream, &encode(&fixed, addr), &mut buf).await
}
