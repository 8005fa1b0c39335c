//! Every log line of this test process, captured once for all tests: the
//! servers the tests start log on their own threads, so a per-test
//! subscriber would miss them. Tests look for lines about the things they
//! made (a unique URL, client id or secret).

use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Sink::default();
        let writer = sink.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("only this module installs a subscriber");
        sink
    })
}

/// Starts capturing (call before starting the servers a test inspects).
pub(crate) fn capture() {
    sink();
}

/// Everything logged so far.
pub(crate) fn text() -> String {
    String::from_utf8_lossy(
        &sink()
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

/// The lines that mention `needle`.
pub(crate) fn lines_with(needle: &str) -> Vec<String> {
    text()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}
