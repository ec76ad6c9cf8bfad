//! Who may look: one secret token, given once through the sign-in page (then an `HttpOnly`
//! cookie) or as `Authorization: Bearer TOKEN`, for the one operator who started the server.

use async_trait::async_trait;
use audit_core::{Actor, ChainHasher};
use audit_dashboard::{Access, Denial, Permission, Viewer};
use http::request::Parts;

/// The cookie the sign-in page sets.
pub const COOKIE: &str = "audit_dashboard";

/// The sign-in page's path.
pub const SIGN_IN: &str = "/signin";

/// Where the dashboard's "Sign out" button posts.
pub const SIGN_OUT: &str = "/signout";

/// [`Access`] for `audit serve`: the holder of the token is the operator, with every
/// permission; anyone else is unauthenticated (and the dashboard records the refusal).
#[derive(Clone)]
pub struct TokenAccess {
    /// SHA-256 of the token: compared digest to digest, so the comparison's time says
    /// nothing about how much of a guess was right.
    digest: audit_core::chain::ChainHash,
    operator: String,
}

impl TokenAccess {
    pub fn new(token: &str, operator: impl Into<String>) -> Self {
        Self {
            digest: digest(token),
            operator: operator.into(),
        }
    }

    /// Whether `candidate` is the token.
    pub fn accepts(&self, candidate: &str) -> bool {
        digest(candidate) == self.digest
    }

    /// The operator's name, recorded as the actor of everything they do.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// The token the request carries, from its bearer header or its sign-in cookie.
    fn presented(request: &Parts) -> Option<&str> {
        let bearer = request
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        bearer.or_else(|| {
            request
                .headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|cookies| cookies.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == COOKIE)
                .map(|(_, value)| value)
        })
    }
}

fn digest(token: &str) -> audit_core::chain::ChainHash {
    ChainHasher::sha256().hash_bytes(token.as_bytes())
}

#[async_trait]
impl Access for TokenAccess {
    async fn authorize(&self, request: &Parts) -> Result<Viewer, Denial> {
        match Self::presented(request) {
            Some(token) if self.accepts(token) => Ok(Viewer::new(Actor::user(&self.operator))
                .roles(["operator"])
                .grant(Permission::ALL)
                // Binds the verify form's CSRF token to this server's one session.
                .session_id("audit-serve")),
            _ => Err(Denial::Unauthenticated),
        }
    }

    fn login_url(&self) -> Option<&str> {
        Some(SIGN_IN)
    }

    fn logout_url(&self) -> Option<&str> {
        Some(SIGN_OUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(header: (&str, &str)) -> Parts {
        http::Request::get("/")
            .header(header.0, header.1)
            .body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|_| unreachable!("a valid request"))
    }

    #[tokio::test]
    async fn the_token_from_a_bearer_header_or_the_cookie_lets_the_operator_in() {
        let access = TokenAccess::new("s3cret-token-value", "ops");
        for header in [
            ("authorization", "Bearer s3cret-token-value"),
            ("cookie", "theme=dark; audit_dashboard=s3cret-token-value"),
        ] {
            let viewer = access.authorize(&parts(header)).await;
            assert!(
                viewer.is_ok_and(|v| v.may(Permission::Verify)),
                "{header:?}"
            );
        }
    }

    #[tokio::test]
    async fn anything_else_is_unauthenticated() {
        let access = TokenAccess::new("s3cret-token-value", "ops");
        for header in [
            ("authorization", "Bearer s3cret-token-valu"),
            ("authorization", "Basic s3cret-token-value"),
            ("cookie", "audit_dashboard="),
            ("cookie", "xaudit_dashboard=s3cret-token-value"),
        ] {
            let denial = access.authorize(&parts(header)).await;
            assert!(matches!(denial, Err(Denial::Unauthenticated)), "{header:?}");
        }
    }
}
