//! Integration tests: the server, verifier and client together over real
//! sockets, one binary. Suites join as those crates land (each test starts
//! its servers on 127.0.0.1 port 0).
