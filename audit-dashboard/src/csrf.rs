//! CSRF protection for the dashboard's one state-changing request (starting a verification).
//!
//! Two independent checks, both required:
//!
//! - a token in the form, `HMAC-SHA256(key, viewer)`: the key is random per dashboard
//!   instance and never leaves the server, the viewer is the actor and session, so a token
//!   cannot be guessed from outside nor replayed by another user;
//! - the browser's own word about where the request comes from: a `Sec-Fetch-Site` other
//!   than `same-origin`/`none`, or an `Origin` whose host is not the request's `Host`, is
//!   refused even with a valid token.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::header::{HOST, ORIGIN};
use sha2::Sha256;

use crate::access::Viewer;

/// The form field that carries the token.
pub(crate) const FIELD: &str = "csrf";

/// Why a POST was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfError {
    /// The form carried no token, or one not issued to this viewer.
    #[error("missing or invalid CSRF token")]
    BadToken,
    /// The browser says the request comes from another site.
    #[error("cross-site request refused")]
    CrossSite,
}

/// Issues and checks tokens with one secret key.
#[derive(Clone)]
pub(crate) struct Csrf {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf { .. }")
    }
}

impl Csrf {
    /// A fresh random key from the operating system.
    pub(crate) fn random() -> Result<Self, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Self::with_key(&key))
    }

    pub(crate) fn with_key(key: &[u8]) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        Self { mac }
    }

    fn keyed(&self, viewer: &Viewer) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        for part in [
            "audit-dashboard csrf v1",
            viewer.actor.kind.as_str(),
            viewer.actor.id.as_str(),
            viewer.session_id.as_deref().unwrap_or(""),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The token to put into `viewer`'s forms.
    pub(crate) fn token(&self, viewer: &Viewer) -> String {
        hex::encode(self.keyed(viewer).finalize().into_bytes())
    }

    /// Checks a POST: its headers and the token it carried.
    pub(crate) fn check(
        &self,
        viewer: &Viewer,
        headers: &HeaderMap,
        token: Option<&str>,
    ) -> Result<(), CsrfError> {
        same_origin(headers)?;
        let token = token
            .and_then(|t| hex::decode(t).ok())
            .ok_or(CsrfError::BadToken)?;
        // Constant-time comparison.
        self.keyed(viewer)
            .verify_slice(&token)
            .map_err(|_| CsrfError::BadToken)
    }
}

fn same_origin(headers: &HeaderMap) -> Result<(), CsrfError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err(CsrfError::CrossSite);
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(HOST).and_then(|v| v.to_str().ok());
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        if origin_host.is_none() || origin_host != host {
            return Err(CsrfError::CrossSite);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::Actor;
    use http::HeaderValue;

    fn viewer(id: &str, session: &str) -> Viewer {
        Viewer::new(Actor::user(id)).session_id(session)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn a_token_verifies_for_the_viewer_it_was_issued_to() {
        let csrf = Csrf::with_key(b"k");
        let alice = viewer("alice", "s1");
        let token = csrf.token(&alice);
        assert_eq!(csrf.check(&alice, &HeaderMap::new(), Some(&token)), Ok(()));
    }

    #[test]
    fn another_viewers_or_sessions_token_is_refused() {
        let csrf = Csrf::with_key(b"k");
        let token = csrf.token(&viewer("alice", "s1"));
        for other in [viewer("mallory", "s1"), viewer("alice", "s2")] {
            assert_eq!(
                csrf.check(&other, &HeaderMap::new(), Some(&token)),
                Err(CsrfError::BadToken)
            );
        }
    }

    #[test]
    fn a_token_from_another_key_missing_or_garbled_is_refused() {
        let alice = viewer("alice", "s1");
        let foreign = Csrf::with_key(b"other").token(&alice);
        let csrf = Csrf::with_key(b"k");
        for token in [Some(foreign.as_str()), None, Some("zz"), Some("")] {
            assert_eq!(
                csrf.check(&alice, &HeaderMap::new(), token),
                Err(CsrfError::BadToken)
            );
        }
    }

    #[test]
    fn cross_site_requests_are_refused_even_with_a_valid_token() {
        let csrf = Csrf::with_key(b"k");
        let alice = viewer("alice", "s1");
        let token = csrf.token(&alice);
        for h in [
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:3000"),
            ]),
            headers(&[("origin", "null"), ("host", "127.0.0.1:3000")]),
        ] {
            assert_eq!(
                csrf.check(&alice, &h, Some(&token)),
                Err(CsrfError::CrossSite)
            );
        }
        let same = headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(csrf.check(&alice, &same, Some(&token)), Ok(()));
    }
}
