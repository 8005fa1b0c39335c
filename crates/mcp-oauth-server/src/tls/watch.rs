//! When the reloader reads its files again: when they change (checked on
//! a timer), and on `SIGHUP`.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::CertificateReloader;

impl CertificateReloader {
    /// Spawns a task that reads the files every `every` (two seconds is
    /// plenty) and reloads when their contents differ from the pair in
    /// use. A new pair that is refused is logged once, as an error, and
    /// tried again only when the files change again; while a file cannot
    /// be read (a renewal half-way through writing it), nothing happens.
    /// Abort the handle to stop watching.
    pub fn watch_files(self: &Arc<Self>, every: Duration) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut refused: Option<Vec<u8>> = None;
            loop {
                ticks.tick().await;
                // Two small files: read in place rather than on the
                // blocking pool.
                let Some(now) = this.files_digest() else {
                    continue;
                };
                if this.is_current(&now) || refused.as_deref() == Some(now.as_slice()) {
                    continue;
                }
                refused = (!this.reload_logged("the files changed")).then_some(now);
            }
        })
    }

    /// Spawns a task that reloads the files on every `SIGHUP` (and from
    /// then on, `SIGHUP` no longer ends the process). Abort the handle to
    /// stop.
    #[cfg(unix)]
    pub fn reload_on_sighup(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        let this = self.clone();
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                this.reload_logged("SIGHUP");
            }
        }))
    }

    /// Reloads and logs the outcome; whether the new pair is in use.
    fn reload_logged(&self, why: &'static str) -> bool {
        let files = self.files();
        match self.reload() {
            Ok(()) => {
                tracing::info!(
                    cert = %files.cert.display(),
                    key = %files.key.display(),
                    why,
                    "TLS certificate reloaded: new connections get the new one"
                );
                true
            }
            Err(e) => {
                tracing::error!(
                    error = %super::chain(&e),
                    why,
                    "TLS certificate reload refused: the current certificate keeps serving"
                );
                false
            }
        }
    }
}
