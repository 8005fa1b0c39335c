//! Registration hygiene: a client the server no longer knows is answered
//! `invalid_client` (401) and our agent registers again
//! ([`reregister`]).

mod reregister;
