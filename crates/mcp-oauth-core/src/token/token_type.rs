//! RFC 8693 §3 token type identifiers.

use crate::macros::open_enum;

open_enum! {
    /// An RFC 8693 §3 token type identifier (`subject_token_type`,
    /// `actor_token_type`, `requested_token_type`, `issued_token_type`).
    pub enum TokenTypeId (
        /// Any other identifier.
        Other
    ) {
        /// An OAuth access token.
        AccessToken => "urn:ietf:params:oauth:token-type:access_token",
        /// An OAuth refresh token.
        RefreshToken => "urn:ietf:params:oauth:token-type:refresh_token",
        /// An OpenID Connect ID token.
        IdToken => "urn:ietf:params:oauth:token-type:id_token",
        /// An Identity Assertion JWT Authorization Grant.
        IdJag => "urn:ietf:params:oauth:token-type:id-jag",
        /// Any JWT.
        Jwt => "urn:ietf:params:oauth:token-type:jwt",
        /// A SAML 2.0 assertion.
        Saml2 => "urn:ietf:params:oauth:token-type:saml2",
    }
}
