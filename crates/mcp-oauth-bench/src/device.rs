//! Idle agents of the device flow (RFC 8628): each worker holds a device
//! authorization nobody has decided yet and polls the token endpoint with
//! it, as an agent waiting for its person does. Every poll is a storage
//! read-modify-write (the pace is kept), answered `authorization_pending`
//! or `slow_down`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::BoxError;
use crate::load::{Conn, Scenario, Worker};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Pending device codes, handed to the workers in turn (the server limits
/// how many one address may start a minute, so they are made beforehand).
pub(crate) struct IdlePolls {
    codes: Vec<(String, String)>,
    next: AtomicUsize,
}

impl IdlePolls {
    /// Registers a device client and starts `n` device authorizations.
    pub(crate) async fn prepare(addr: &str, n: usize) -> Result<Arc<Self>, BoxError> {
        let mut conn = Conn::open(addr).await?;
        let r = conn
            .post_json(
                "/register",
                &[],
                &json!({"client_name": "bench device", "grant_types": [GRANT],
                        "token_endpoint_auth_method": "none"}),
            )
            .await?
            .expect(201, "register")?;
        let client: Value = serde_json::from_slice(&r.body)?;
        let client_id = client["client_id"].as_str().ok_or("no client_id")?;
        let mut codes = Vec::with_capacity(n);
        for _ in 0..n {
            let r = conn
                .post_form("/device_authorization", &[], &[("client_id", client_id)])
                .await?
                .expect(200, "device authorization")?;
            let v: Value = serde_json::from_slice(&r.body)?;
            let code = v["device_code"].as_str().ok_or("no device_code")?;
            codes.push((client_id.to_owned(), code.to_owned()));
        }
        Ok(Arc::new(Self {
            codes,
            next: AtomicUsize::new(0),
        }))
    }
}

#[async_trait::async_trait]
impl Scenario for IdlePolls {
    async fn worker(&self, _conn: &mut Conn) -> Result<Box<dyn Worker>, BoxError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.codes.len().max(1);
        let (client_id, device_code) = self.codes.get(i).cloned().ok_or("no device codes")?;
        Ok(Box::new(Poller {
            client_id,
            device_code,
        }))
    }
}

struct Poller {
    client_id: String,
    device_code: String,
}

#[async_trait::async_trait]
impl Worker for Poller {
    async fn once(&mut self, conn: &mut Conn) -> Result<(), BoxError> {
        let r = conn
            .post_form(
                "/token",
                &[],
                &[
                    ("grant_type", GRANT),
                    ("device_code", &self.device_code),
                    ("client_id", &self.client_id),
                ],
            )
            .await?;
        let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        match body["error"].as_str() {
            Some("authorization_pending" | "slow_down") => Ok(()),
            other => Err(format!("poll: HTTP {} {other:?}", r.status).into()),
        }
    }
}
