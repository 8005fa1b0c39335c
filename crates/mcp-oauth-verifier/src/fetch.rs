//! Reading the authorization server's JSON answers (metadata, JWK Sets,
//! introspection) with a cap on their size, so that a broken or hostile
//! endpoint cannot make the resource server buffer without limit.

use serde::de::DeserializeOwned;

/// Largest JSON document read from the authorization server.
pub(crate) const MAX_DOCUMENT: usize = 1024 * 1024;

/// Reads `response` (at most [`MAX_DOCUMENT`] bytes) as JSON of type `T`.
pub(crate) async fn json_body<T: DeserializeOwned>(
    mut response: reqwest::Response,
) -> Result<T, String> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT as u64)
    {
        return Err(format!("document larger than {MAX_DOCUMENT} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("document larger than {MAX_DOCUMENT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("invalid JSON: {e}"))
}
