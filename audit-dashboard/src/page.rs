//! The per-request context of a page: the viewer, the links, the shared state.

use audit_core::AuditStore;
use audit_core::query::{AuditQuery, Page};
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::access::{Permission, Viewer};
use crate::app::{Shared, links_of};
use crate::errors::{Failure, PageError};
use crate::layout::{Chrome, Section};
use crate::links::Links;

/// What a page handler gets: who is looking, where the dashboard is mounted, the state.
pub(crate) struct Ctx {
    pub viewer: Viewer,
    pub links: Links,
    pub inner: Shared,
}

impl FromRequestParts<Shared> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        // Every page route sits behind the guard, which puts the viewer here.
        let viewer = parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .ok_or_else(|| StatusCode::FORBIDDEN.into_response())?;
        Ok(Self {
            viewer,
            links: links_of(parts),
            inner: state.clone(),
        })
    }
}

impl Ctx {
    pub(crate) fn chrome(&self, title: impl Into<String>, section: Section) -> Chrome {
        Chrome::new(
            &self.links,
            &self.inner.title,
            &self.viewer.actor.id,
            title,
            section,
        )
        .signout(self.inner.access.logout_url())
    }

    /// The error page for `error`.
    pub(crate) fn fail(&self, error: impl Into<PageError>) -> Failure {
        Failure {
            chrome: self.chrome("Error", Section::Other),
            error: error.into(),
        }
    }

    /// One page from the store, or the error page.
    pub(crate) async fn query(&self, query: &AuditQuery) -> Result<Page, Failure> {
        self.inner
            .store
            .query(query)
            .await
            .map_err(|e| self.fail(e))
    }

    pub(crate) fn may(&self, permission: Permission) -> bool {
        self.viewer.may(permission)
    }
}
