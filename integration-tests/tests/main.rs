//! Integration tests: the server, verifier and client together over real
//! sockets, one binary. Each test starts its servers on 127.0.0.1 port 0.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod accounts;
mod admin;
mod attacks;
mod browser;
mod browser_account;
mod cimd;
mod client;
mod client_assertion;
mod client_id_jag;
mod device;
mod enterprise;
mod federation;
mod flow;
mod id_jag;
mod keys;
mod logs;
mod oidc;
mod registration;
mod server_flow;
mod shared_sqlite;
mod tls;
mod token_exchange;
mod verifier;
