//! Registration hygiene: a client the server no longer knows is answered
//! `invalid_client` (401) and our agent registers again ([`reregister`]);
//! the RFC 7592 client configuration endpoint ([`management`]); idle
//! registrations reaped ([`reaping`]); the policy for metadata-document
//! clients ([`cimd_policy`]).

mod cimd_policy;
mod management;
mod reaping;
mod reregister;
