//! `GET /verify`: the last verification and a run in progress; `POST /verify/run` starts
//! one (CSRF-protected); `GET /verify/status` is the progress as JSON for the script.

use askama::Template;
use axum::Form;
use axum::Json;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::access::Permission;
use crate::csrf;
use crate::errors::Failure;
use crate::layout::{Chrome, Section, html_with_status};
use crate::links::Links;
use crate::page::Ctx;
use crate::record;
use crate::verifier::{Finished, Progress, Scope, StartError, Verdict};
use crate::view;

/// A finished verification as the overview and the verify page show it.
pub(crate) struct VerifyView {
    pub valid: bool,
    pub summary: String,
    pub finished: String,
    pub by: String,
    pub detail: Option<String>,
    pub fault_href: Option<String>,
}

impl VerifyView {
    pub(crate) fn new(f: &Finished, links: &Links) -> Self {
        let (detail, fault_href) = match &f.verdict {
            Verdict::Fault { seq, detail, .. } => (Some(detail.clone()), Some(links.event(*seq))),
            Verdict::Error { message } => (Some(message.clone()), None),
            Verdict::Valid => (None, None),
        };
        Self {
            valid: f.is_valid(),
            summary: f.summary(),
            finished: view::time(f.finished_at),
            by: f.by.clone(),
            detail,
            fault_href,
        }
    }
}

/// "seq 1 to 1000000: 350000 checked (35 %)".
pub(crate) fn running_line(p: &Progress) -> String {
    let total = p.total();
    let percent = (p.checked * 100).checked_div(total).unwrap_or(100);
    format!(
        "seq {} to {}: {} of {} checked ({percent} %), started by {}",
        p.from, p.to, p.checked, total, p.by
    )
}

pub(crate) struct Running {
    pub line: String,
    pub checked: u64,
    pub total: u64,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    chrome: Chrome,
    running: Option<Running>,
    last: Option<VerifyView>,
    can_verify: bool,
    csrf_field: &'static str,
    csrf: String,
    run_href: String,
    status_href: String,
    error: Option<String>,
}

async fn render(ctx: &Ctx, status: StatusCode, error: Option<String>) -> Response {
    let (running, last) = ctx.inner.verifier.status().await;
    let page = VerifyPage {
        chrome: ctx.chrome("Verify the chain", Section::Verify),
        running: running.as_ref().map(|p| Running {
            line: running_line(p),
            checked: p.checked,
            total: p.total(),
        }),
        last: last.as_ref().map(|f| VerifyView::new(f, &ctx.links)),
        can_verify: ctx.may(Permission::Verify),
        csrf_field: csrf::FIELD,
        csrf: ctx.inner.csrf.token(&ctx.viewer),
        run_href: ctx.links.path_run(),
        status_href: ctx.links.verify_status(),
        error,
    };
    html_with_status(status, &page)
}

pub(crate) async fn page(ctx: Ctx) -> Response {
    record::viewed("verify", json!({}));
    render(&ctx, StatusCode::OK, None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RunForm {
    csrf: String,
    scope: String,
    from: String,
    to: String,
}

pub(crate) async fn start(
    ctx: Ctx,
    headers: HeaderMap,
    Form(form): Form<RunForm>,
) -> Result<Response, Failure> {
    ctx.inner
        .csrf
        .check(&ctx.viewer, &headers, Some(&form.csrf))
        .map_err(|e| ctx.fail(e))?;
    let scope = if form.scope == "range" {
        let seq = |text: &str| text.trim().parse::<u64>().ok();
        match (seq(&form.from), seq(&form.to)) {
            (Some(from), Some(to)) => Scope::Range { from, to },
            _ => {
                let error = "Give the first and last seq of the range.".to_owned();
                return Ok(render(&ctx, StatusCode::BAD_REQUEST, Some(error)).await);
            }
        }
    } else {
        Scope::All
    };
    match ctx.inner.verifier.start(scope, &ctx.viewer.actor.id).await {
        Ok(()) => Ok(Redirect::to(&ctx.links.verify()).into_response()),
        Err(err @ StartError::AlreadyRunning) => {
            Ok(render(&ctx, StatusCode::CONFLICT, Some(err.to_string())).await)
        }
        Err(err @ StartError::EmptyRange { .. }) => {
            Ok(render(&ctx, StatusCode::BAD_REQUEST, Some(err.to_string())).await)
        }
    }
}

pub(crate) async fn status(ctx: Ctx) -> Response {
    let (running, last) = ctx.inner.verifier.status().await;
    Json(json!({
        "running": running.as_ref().map(|p| json!({
            "checked": p.checked,
            "total": p.total(),
            "line": running_line(p),
        })),
        "last": last.as_ref().map(|f| json!({ "valid": f.is_valid(), "summary": f.summary() })),
    }))
    .into_response()
}
