//! Connections: a client that sends its body slowly is cut off, the
//! server keeps descriptors in reserve, and fresh clients are served.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{client, start};

/// Opens a connection that sends a request head announcing a 60,000-byte
/// body, then drips one byte a second; returns when the server closes it
/// (or after `give_up`).
async fn slow_body(addr: String, give_up: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return false;
    };
    let head = format!(
        "POST /token HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 60000\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return true;
    }
    let deadline = tokio::time::Instant::now() + give_up;
    let mut buf = [0u8; 512];
    loop {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        if stream.write_all(b"a").await.is_err() {
            return true;
        }
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {
                // The 408 answer; the close follows.
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
                return true;
            }
            Err(_) => {}
        }
    }
}

/// A2: no deadline applied while a body was read, so 1,100 sockets dripping
/// a body held every descriptor of a server under the usual 1,024 limit,
/// and `/healthz` stopped answering. Now bodies must arrive within the body
/// timeout, connections are capped below the descriptor limit, and a fresh
/// client is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_slow_bodies_are_cut_off_and_fresh_clients_served() {
    let mut s = start(&["--body-timeout", "3"], &[], Some(256)).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let baseline = s.descriptors();
    let slow: Vec<_> = (0..400)
        .map(|_| tokio::spawn(slow_body(addr.clone(), Duration::from_secs(40))))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A fresh client gets its answer (within a bounded wait: at worst once
    // the first slow clients are cut).
    let r = client().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut cut = 0;
    for t in slow {
        if t.await.unwrap() {
            cut += 1;
        }
    }
    assert_eq!(cut, 400, "every slow client was cut off");
    assert!(s.alive(), "the server survived");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = s.descriptors();
    assert!(
        after <= baseline + baseline / 10 + 2,
        "descriptors back to the baseline: {baseline} -> {after}"
    );
    let r = client().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        !s.output().contains("Too many open files"),
        "{}",
        s.output()
    );
}
