//! What every page shares: the page chrome (title, navigation, viewer, asset links) and the
//! one function that turns a filled template into a response.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use crate::links::Links;

/// The navigation sections; the current one is highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Events,
    Live,
    Verify,
    /// A page outside the navigation (an event, a timeline, an error).
    Other,
}

/// One navigation link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NavItem {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// The parts of the page around its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chrome {
    /// The page's own title.
    pub title: String,
    /// The dashboard's name (configurable by the host).
    pub app: String,
    /// Who is looking (empty on the sign-in and error pages before authorization).
    pub viewer: String,
    pub home: String,
    pub nav: Vec<NavItem>,
    pub stylesheet: String,
    pub script: String,
    /// Where the header's "Sign out" button posts (only for a signed-in viewer).
    pub signout: Option<String>,
}

impl Chrome {
    pub(crate) fn new(
        links: &Links,
        app: &str,
        viewer: &str,
        title: impl Into<String>,
        section: Section,
    ) -> Self {
        let item = |label, href, s| NavItem {
            label,
            href,
            current: section == s,
        };
        let nav = if viewer.is_empty() {
            Vec::new()
        } else {
            vec![
                item("Overview", links.overview(), Section::Overview),
                item("Events", links.events(&Default::default()), Section::Events),
                item("Live", links.live(), Section::Live),
                item("Verify", links.verify(), Section::Verify),
            ]
        };
        Self {
            title: title.into(),
            app: app.to_owned(),
            viewer: viewer.to_owned(),
            home: links.overview(),
            nav,
            stylesheet: links.asset("dashboard.css"),
            script: links.asset("dashboard.js"),
            signout: None,
        }
    }

    /// Adds the host's sign-out URL ([`Access::logout_url`](crate::Access::logout_url)),
    /// shown only to a signed-in viewer.
    pub(crate) fn signout(mut self, url: Option<&str>) -> Self {
        self.signout = url.filter(|_| !self.viewer.is_empty()).map(str::to_owned);
        self
    }
}

/// Renders a page with status 200.
pub(crate) fn html(template: &impl Template) -> Response {
    html_with_status(StatusCode::OK, template)
}

/// Renders a page with `status`. A template that fails to render (it cannot, short of a
/// formatting error in a value) answers a plain 500.
pub(crate) fn html_with_status(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "audit dashboard: a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}
