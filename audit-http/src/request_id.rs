//! Request ids: taken from the client (or an upstream proxy) when safe, generated otherwise.

use uuid::Uuid;

/// The header read and echoed by default.
pub const X_REQUEST_ID: &str = "x-request-id";

/// Longest request id accepted from a request header, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whose request id header the [`Edge`](crate::Edge) believes.
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

/// The request id of the current request (the framework integrations put it in the
/// request's extensions).
///
/// ```
/// use audit_http::RequestId;
///
/// assert!(RequestId::parse("req-123").is_some());
/// assert!(RequestId::parse("no spaces; please").is_none());
/// let (id, generated) = RequestId::from_header(None);
/// assert!(generated);
/// assert_eq!(uuid::Uuid::parse_str(id.as_str()).unwrap().get_version_num(), 7);
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

    /// The id in a header's value if there is one and it is valid, else a new one; the flag
    /// says whether it was generated.
    pub fn from_header(value: Option<&[u8]>) -> (Self, bool) {
        match value
            .and_then(|v| std::str::from_utf8(v).ok())
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

    #[test]
    fn valid_incoming_id_is_kept() {
        let (id, generated) = RequestId::from_header(Some(b"abc-123_x.y:z"));
        assert_eq!(id.as_str(), "abc-123_x.y:z");
        assert!(!generated);
    }

    #[test]
    fn missing_id_is_generated_as_uuid_v7() {
        let (id, generated) = RequestId::from_header(None);
        assert!(generated);
        let uuid = Uuid::parse_str(id.as_str()).expect("uuid");
        assert_eq!(uuid.get_version_num(), 7);
    }

    #[test]
    fn overlong_id_is_replaced() {
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let (id, generated) = RequestId::from_header(Some(long.as_bytes()));
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
        let (_, generated) = RequestId::from_header(Some(b"ab\xffcd"));
        assert!(generated);
    }
}
