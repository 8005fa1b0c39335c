//! Bearer tokens at the verifier. The verifier trusts one ES256 key (served
//! by a JWKS endpoint on loopback) and an HS256 shared key, so inputs reach
//! header parsing, key selection and, for HMAC-signed inputs, claim
//! checks. Every outcome is an accept or a typed rejection, never a panic;
//! an accepted token carries the issuer and audience the verifier demands.
#![no_main]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::OnceLock;

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use jsonwebtoken::Algorithm;
use mcp_oauth_verifier::Verifier;
use mcp_oauth_verifier::core::resource::ResourceUri;

const ISSUER: &str = "http://127.0.0.1:1";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const SHARED: &[u8] = b"fuzzing-shared-key-of-32-bytes!!";
const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI","y":"iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0"}]}"#;

struct World {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
}

/// Serves the JWKS on a loopback port for the life of the process.
fn jwks_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{JWKS}",
                JWKS.len()
            );
        }
    });
    format!("http://{addr}/jwks")
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let verifier = Verifier::builder(RESOURCE)
            .authorization_server(ISSUER)
            .jwks_uri(jwks_server())
            .shared_secret(SHARED, Algorithm::HS256)
            .build()
            .expect("verifier");
        World { runtime, verifier }
    })
}

fn hs256(header: &[u8], payload: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header),
        Base64UrlUnpadded::encode_string(payload)
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SHARED).expect("key");
    mac.update(signing_input.as_bytes());
    let sig = mac.finalize().into_bytes();
    format!("{signing_input}.{}", Base64UrlUnpadded::encode_string(&sig))
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    let token = match data.split_first() {
        // A signed token whose header and claims are the fuzzer's.
        Some((0, rest)) => {
            let (header, payload) = match rest.iter().position(|b| *b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&b"{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}"[..], rest),
            };
            hs256(header, payload)
        }
        _ => match std::str::from_utf8(data) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        },
    };
    let outcome = world
        .runtime
        .block_on(world.verifier.verify_token(&token));
    if let Ok(claims) = outcome {
        assert_eq!(claims.issuer.as_deref(), Some(ISSUER));
        let ours = |a: &String| ResourceUri::parse(a).is_ok_and(|r| r.as_str() == RESOURCE);
        assert!(claims.audience.iter().any(ours), "{claims:?}");
    }
});
