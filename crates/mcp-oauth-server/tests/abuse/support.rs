//! The abuse suite's tools: the real server binary in its own process (so
//! its memory and descriptors can be measured from /proc), an HTTPS
//! document server with a certificate authority made for the test, and
//! raw sockets.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

pub(crate) const METRICS_TOKEN: &str = "abuse-metrics-token-0123456789";
pub(crate) const USER: &str = "admin";
pub(crate) const PASSWORD: &str = "abuse suite password";

/// A server process.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) stdout: PathBuf,
    pub(crate) stderr: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stdout);
        let _ = std::fs::remove_file(&self.stderr);
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "mcp-oauth-abuse-{}-{name}-{}",
        std::process::id(),
        mcp_oauth_server::core::secret::random_base64url(6).unwrap()
    ))
}

/// Starts the binary with `args` (after the defaults: memory storage, a
/// superuser, a metrics token), `env`, and, with `nofile`, that file-
/// descriptor limit (soft and hard).
pub(crate) async fn start(args: &[&str], env: &[(&str, &str)], nofile: Option<u32>) -> Server {
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_mcp-oauth-server");
    let (stdout, stderr) = (scratch("out"), scratch("err"));
    let mut cmd = match nofile {
        Some(n) => {
            let mut c = Command::new("bash");
            c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin]);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(["--port", &port.to_string()]);
    if !args.contains(&"--log-level") {
        cmd.args(["--log-level", "warn"]);
    }
    cmd.args(["--superuser", USER, "--superuser-password", PASSWORD])
        .args(["--metrics-token", METRICS_TOKEN]);
    if !args.contains(&"--storage") {
        cmd.args(["--storage", "memory"]);
    }
    cmd.args(args)
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
            && r.status() == 200
        {
            return Server {
                child,
                base,
                stdout,
                stderr,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the server did not start: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn status(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Resident memory, in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        self.status("VmRSS:")
    }

    /// Open file descriptors.
    pub(crate) fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub(crate) fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub(crate) fn output(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// The value of a metrics line starting with `prefix`.
    pub(crate) async fn metric(&self, prefix: &str) -> Option<f64> {
        let text = client()
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}

/// An HTTP client that does not follow redirects.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// An HTTPS server of client metadata documents and key sets, with a CA
/// of its own (the server under test trusts it through `SSL_CERT_FILE`).
/// Counts requests by path.
pub(crate) struct Documents {
    pub(crate) base: String,
    pub(crate) ca_file: PathBuf,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    total: Arc<AtomicUsize>,
    handle: actix_web::dev::ServerHandle,
}

/// A document padded to `bytes`, for `url`.
fn document(url: &str, bytes: usize) -> serde_json::Value {
    serde_json::json!({
        "client_id": url,
        "client_name": "Document client",
        "redirect_uris": ["http://127.0.0.1:4700/cb"],
        "token_endpoint_auth_method": "none",
        "padding": vec![0u8; bytes / 2],
    })
}

async fn serve_document(req: HttpRequest, hits: web::Data<Hits>) -> HttpResponse {
    let path = req.path().to_owned();
    hits.0.total.fetch_add(1, Ordering::SeqCst);
    *hits.0.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let url = format!("{}{path}", hits.0.base);
    if path.starts_with("/missing/") {
        return HttpResponse::NotFound().finish();
    }
    if path.starts_with("/slow/") {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if path.starts_with("/keys/") {
        return HttpResponse::Ok().json(serde_json::json!({"keys": []}));
    }
    let mut r = HttpResponse::Ok();
    if path.starts_with("/nostore/") {
        r.insert_header(("cache-control", "no-store"));
    }
    r.json(document(&url, 16 * 1024 - 200))
}

struct HitsInner {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    total: Arc<AtomicUsize>,
}

struct Hits(HitsInner);

impl Documents {
    pub(crate) fn start() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "abuse suite CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let ca_file = scratch("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();

        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let total = Arc::new(AtomicUsize::new(0));
        let data = web::Data::new(Hits(HitsInner {
            base: base.clone(),
            hits: hits.clone(),
            total: total.clone(),
        }));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(serve_document))
        })
        .workers(2)
        .listen_rustls_0_23(listener, tls)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base,
            ca_file,
            hits,
            total,
            handle,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests served for `path`.
    pub(crate) fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Requests served in all.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    pub(crate) async fn stop(self) {
        self.handle.stop(false).await;
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// The `/authorize` query naming the document `client_id`.
pub(crate) fn authorize_path(client_id: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", "http://127.0.0.1:4700/cb")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    format!("/authorize?{}", q.finish())
}
