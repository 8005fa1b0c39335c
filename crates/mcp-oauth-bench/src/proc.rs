//! Server processes: spawned pinned to CPU 0, waited for, measured from
//! `/proc`, killed on drop.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::BoxError;

/// A server process, killed on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `program args` pinned to CPU 0 and waits until its port
    /// accepts connections.
    pub(crate) async fn start(
        program: &std::path::Path,
        args: &[String],
        port: u16,
    ) -> Result<Self, BoxError> {
        Self::start_with_env(program, args, port, &[]).await
    }

    /// [`Server::start`] with extra environment variables.
    pub(crate) async fn start_with_env(
        program: &std::path::Path,
        args: &[String],
        port: u16,
        env: &[(&str, &str)],
    ) -> Result<Self, BoxError> {
        let server = Self {
            child: spawn_pinned(program, args, env)?,
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(format!("{} did not start", server.base).into())
    }

    /// `host:port`.
    pub(crate) fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// CPU clock ticks used so far and resident memory in KiB.
    pub(crate) fn stats(&self) -> (u64, u64) {
        proc_stats(self.child.id())
    }
}

/// Set while the two-core rows run: servers and generator share both
/// cores, unpinned.
pub(crate) static TWO_CORES: AtomicBool = AtomicBool::new(false);

/// The CPUs servers are pinned to.
pub(crate) fn server_cpus() -> &'static str {
    if TWO_CORES.load(Ordering::Relaxed) {
        "0,1"
    } else {
        "0"
    }
}

/// The CPUs the load generators (this process, wrk) run on.
pub(crate) fn generator_cpus() -> &'static str {
    if TWO_CORES.load(Ordering::Relaxed) {
        "0,1"
    } else {
        "1"
    }
}

/// Whether `taskset` can be run.
pub(crate) fn have_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Moves every thread of this process to `cpus` (when `taskset` exists);
/// threads made later inherit it.
pub(crate) fn pin_self(cpus: &str) {
    if have_taskset() {
        let _ = Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// An unused loopback port.
pub(crate) fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs `program args` pinned to CPU 0 ([`server_cpus`]) when `taskset`
/// exists (`taskset` execs into the program, so the child's pid is the
/// server's).
pub(crate) fn spawn_pinned(
    program: &std::path::Path,
    args: &[String],
    env: &[(&str, &str)],
) -> Result<Child, BoxError> {
    let mut cmd = if have_taskset() {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(server_cpus()).arg(program);
        c
    } else {
        Command::new(program)
    };
    Ok(cmd
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// (utime + stime) clock ticks and VmRSS in KiB of a process.
fn proc_stats(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After the command name, the state is index 0; utime (field 14 of the
    // whole line) is index 11 here and stime index 12.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (field(11) + field(12), rss)
}
