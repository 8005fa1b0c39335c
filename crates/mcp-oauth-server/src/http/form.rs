//! Form bodies (`application/x-www-form-urlencoded`) of the token,
//! introspection, revocation and device endpoints.
//!
//! `serde_urlencoded` decodes every name and value: it looks for `+` and
//! `%` escapes byte by byte and then checks the result as UTF-8, again byte
//! by byte. Bodies of resource servers and agents rarely hold an escape (a
//! JWT, a base64url code or refresh token, a client id), and for a
//! 600-byte access token those scans were the largest cost of an
//! introspection call after the kernel's. A body with no escape at all
//! (found by one vectorised search) that is valid UTF-8 decodes to itself,
//! so its pairs are handed to the same `Deserialize` implementation
//! directly, with values read the way `serde_urlencoded` reads them
//! ([`Value`]); any other body goes through `serde_urlencoded`.
//! Duplicate and missing fields are refused by the types' derived
//! implementations either way, with the same messages.

use serde::de::value::{Error as PlainError, MapDeserializer};
use serde::de::{DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::oauth::error::OAuthResult;
use mcp_oauth_core::error::ErrorResponse;

/// Decodes a form body, or answers `invalid_request` naming what was being
/// decoded (duplicate or malformed parameters land here).
pub(crate) fn decode_form<T: DeserializeOwned>(body: &[u8], what: &str) -> OAuthResult<T> {
    let malformed = |e: &dyn std::fmt::Display| {
        ErrorResponse::invalid_request(format!("malformed {what} request: {e}")).into()
    };
    match plain(body) {
        Some(text) => T::deserialize(MapDeserializer::<_, PlainError>::new(pairs(text)))
            .map_err(|e| malformed(&e)),
        None => serde_urlencoded::from_bytes(body).map_err(|e| malformed(&e)),
    }
}

/// The body as text when decoding would leave it unchanged: no `+`, no
/// `%`, valid UTF-8.
fn plain(body: &[u8]) -> Option<&str> {
    if memchr::memchr2(b'+', b'%', body).is_some() {
        return None;
    }
    std::str::from_utf8(body).ok()
}

/// The `name=value` pairs of a form, split as the URL standard's
/// `application/x-www-form-urlencoded` parser splits them: on `&`, empty
/// sequences skipped, a sequence without `=` a name with an empty value.
fn pairs(text: &str) -> impl Iterator<Item = (Value<'_>, Value<'_>)> {
    text.split('&').filter(|s| !s.is_empty()).map(|s| {
        let (name, value) = s.split_once('=').unwrap_or((s, ""));
        (Value(name), Value(value))
    })
}

/// A name or value of a form: a string that also reads as `Some`, as a
/// number or `bool` it spells, or as a unit enum variant it names, as
/// `serde_urlencoded` reads its values.
struct Value<'a>(&'a str);

impl<'de> IntoDeserializer<'de, PlainError> for Value<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// One `deserialize_*` method per type that parses the text.
macro_rules! parsed {
    ($($ty:ty => $method:ident => $visit:ident,)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlainError> {
                match self.0.parse::<$ty>() {
                    Ok(v) => visitor.$visit(v),
                    Err(e) => Err(serde::de::Error::custom(e)),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Value<'de> {
    type Error = PlainError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlainError> {
        visitor.visit_borrowed_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlainError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PlainError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PlainError> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    parsed! {
        bool => deserialize_bool => visit_bool,
        u8 => deserialize_u8 => visit_u8,
        u16 => deserialize_u16 => visit_u16,
        u32 => deserialize_u32 => visit_u32,
        u64 => deserialize_u64 => visit_u64,
        i8 => deserialize_i8 => visit_i8,
        i16 => deserialize_i16 => visit_i16,
        i32 => deserialize_i32 => visit_i32,
        i64 => deserialize_i64 => visit_i64,
        f32 => deserialize_f32 => visit_f32,
        f64 => deserialize_f64 => visit_f64,
    }

    forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Hint {
        AccessToken,
        RefreshToken,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Inner {
        client_id: Option<String>,
        client_secret: Option<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Form {
        token: String,
        hint: Option<Hint>,
        count: Option<u32>,
        flag: Option<bool>,
        #[serde(flatten)]
        inner: Inner,
    }

    /// Both decoders, for a body the fast path takes.
    fn both(body: &str) -> (Result<Form, String>, Result<Form, String>) {
        assert!(
            plain(body.as_bytes()).is_some(),
            "{body} takes the fast path"
        );
        let fast = decode_form::<Form>(body.as_bytes(), "test").map_err(|e| format!("{e:?}"));
        let slow = serde_urlencoded::from_bytes::<Form>(body.as_bytes()).map_err(|e| e.to_string());
        (fast, slow)
    }

    #[test]
    fn plain_bodies_decode_as_serde_urlencoded_decodes_them() {
        for body in [
            "token=abc",
            "token=a.b-c_d~e&hint=refresh_token&count=7&flag=true&client_id=x&client_secret=y",
            "&&token=abc&&client_id=&count=0&",
            "client_id&token=abc",
            "token=abc&unknown=1&other",
            "token=a=b=c",
            // Refused alike: duplicates (plain and flattened fields),
            // missing fields, values of the wrong kind.
            "token=a&token=b",
            "token=a&client_id=x&client_id=y",
            "hint=access_token",
            "token=a&count=-1",
            "token=a&count=x",
            "token=a&flag=yes",
            "token=a&hint=id_token",
            "",
        ] {
            let (fast, slow) = both(body);
            match (&fast, &slow) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{body}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{body}: fast {fast:?}, serde_urlencoded {slow:?}"),
            }
        }
        let (fast, _) = both("token=a&token=b");
        assert!(fast.unwrap_err().contains("duplicate field"));
        let (fast, _) = both("count=1");
        assert!(fast.unwrap_err().contains("missing field `token`"));
    }

    #[test]
    fn escaped_or_non_utf8_bodies_take_serde_urlencoded() {
        assert!(plain(b"token=a+b").is_none());
        assert!(plain(b"token=a%20b").is_none());
        assert!(plain(b"token=\xff").is_none());
        let form: Form = decode_form(b"token=a+b%21&client_id=c%26d", "test").unwrap();
        assert_eq!(form.token, "a b!");
        assert_eq!(form.inner.client_id.as_deref(), Some("c&d"));
    }
}
