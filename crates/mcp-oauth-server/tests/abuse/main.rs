//! The abuse suite: what strangers can make the server spend, measured on
//! the real binary in its own process. Each test sends an attack at a
//! scale that would show an unbounded cost (thousands of documents,
//! hundreds of slow sockets, bursts of identical requests) and asserts the
//! bound: resident memory, open descriptors, outbound fetches. Bounded
//! waits only; no timing is asserted.

#![allow(clippy::unwrap_used, clippy::zombie_processes, missing_docs)]

mod connections;
mod deployment;
mod documents;
mod soak;
mod support;
