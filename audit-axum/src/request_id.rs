//! Request ids: taken from the client (or an upstream proxy) when safe, generated otherwise.

use http::HeaderMap;
use http::header::HeaderName;
use uuid::Uuid;

/// The header read and echoed by default.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a request header, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whose request id header [`AuditLayer`](crate::AuditLayer) believes.
///
/// A request id ties audit events to one request. Taken from anyone, it would let a client
/// plant the id of someone else's request on its own events, so by default only a trusted
/// proxy (which generated or checked it) is believed, as for the client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AcceptRequestId {
    /// Only when the peer is one of the layer's trusted proxies (the default).
    #[default]
    FromTrustedProxies,
    /// From any client (still only if it is a safe id: see [`RequestId::parse`]).
    FromAnyone,
    /// Never: every request gets a new id.
    Never,
}

/// The request id of the current request, in the request's extensions.
///
/// ```
/// use axum::Extension;
/// use audit_axum::RequestId;
///
/// async fn handler(Extension(id): Extension<RequestId>) -> String {
///     id.to_string()
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A new id (UUIDv7, so ids sort by time).
    pub fn generate() -> Self {
        Self(Uuid::now_v7().to_string())
    }

    /// Accepts `text` if it is 1 to [`MAX_REQUEST_ID_LEN`] bytes of ASCII letters, digits and
    /// `- _ . : + / =` (UUIDs, ULIDs, trace ids, base64): safe to log and echo anywhere.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= MAX_REQUEST_ID_LEN
            && text.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
            });
        ok.then(|| Self(text.to_owned()))
    }

    /// The id taken from `header` if present and valid, else a new one; the flag says
    /// whether it was generated.
    pub fn from_headers(headers: &HeaderMap, header: &HeaderName) -> (Self, bool) {
        match headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
        {
            Some(id) => (id, false),
            None => (Self::generate(), true),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            X_REQUEST_ID.clone(),
            HeaderValue::from_bytes(value).expect("value"),
        );
        h
    }

    #[test]
    fn valid_incoming_id_is_kept() {
        let (id, generated) = RequestId::from_headers(&headers(b"abc-123_x.y:z"), &X_REQUEST_ID);
        assert_eq!(id.as_str(), "abc-123_x.y:z");
        assert!(!generated);
    }

    #[test]
    fn missing_id_is_generated_as_uuid_v7() {
        let (id, generated) = RequestId::from_headers(&HeaderMap::new(), &X_REQUEST_ID);
        assert!(generated);
        let uuid = Uuid::parse_str(id.as_str()).expect("uuid");
        assert_eq!(uuid.get_version_num(), 7);
    }

    #[test]
    fn overlong_id_is_replaced() {
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let (id, generated) = RequestId::from_headers(&headers(long.as_bytes()), &X_REQUEST_ID);
        assert!(generated);
        assert_ne!(id.as_str(), long);
    }

    #[test]
    fn id_of_maximum_length_is_kept() {
        let max = "a".repeat(MAX_REQUEST_ID_LEN);
        assert!(RequestId::parse(&max).is_some());
    }

    #[test]
    fn unsafe_characters_are_rejected() {
        for bad in ["a b", "a;b", "<script>", "a\"b", "x\ty", "é", ""] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn non_utf8_id_is_replaced() {
        let (_, generated) = RequestId::from_headers(&headers(b"ab\xffcd"), &X_REQUEST_ID);
        assert!(generated);
    }
}
