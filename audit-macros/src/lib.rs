//! The `#[audited]` attribute: one audit event for every call of a function.
//!
//! Use it through the `audit` facade (`audit::audited`) or `audit_core` (feature `macros`, on
//! by default). The generated code calls the runtime support of whichever of the two your
//! package depends on (the facade first), found in your `Cargo.toml`, so your code and the
//! generated code agree on one `audit_core`:
//!
//! ```
//! use audit_core::{audited, testing, Outcome};
//!
//! # #[derive(Debug)] pub struct Booking { id: u64 }
//! # #[derive(Debug)] pub struct NewBooking { flight: String, seats: u32 }
//! # #[derive(Debug)] pub struct BookingError;
//! # impl std::fmt::Display for BookingError {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("flight full") }
//! # }
//! #[audited(
//!     "FTMS_BOOKING_CREATED",
//!     entity_type = "booking",
//!     entity_id = |booking| booking.id,
//!     description = "booking on {req.flight}",
//!     metadata(seats = req.seats),
//! )]
//! fn create_booking(req: NewBooking) -> Result<Booking, BookingError> {
//!     if req.seats > 9 {
//!         return Err(BookingError);
//!     }
//!     Ok(Booking { id: 42 })
//! }
//!
//! let req = NewBooking { flight: "LH400".into(), seats: 2 };
//! let (booking, captured) = testing::capture(|| create_booking(req));
//! assert_eq!(booking.map(|b| b.id).ok(), Some(42));
//! let event = captured.single();
//! assert_eq!(event.action, "FTMS_BOOKING_CREATED");
//! assert_eq!(event.outcome, Outcome::Success);
//! assert_eq!(event.entity_id.as_deref(), Some("42"));
//! assert_eq!(event.description.as_deref(), Some("booking on LH400"));
//! assert_eq!(event.metadata["seats"], 2);
//! ```
//!
//! # Where it applies
//!
//! Free functions and methods (`self`, `&self`, `&mut self`, `mut self`), sync or `async`;
//! generics, `where` clauses, lifetimes (elided ones in the return type included), `impl Trait`
//! in argument and return position, `unsafe fn`, `extern "C" fn`; `?` and early `return`;
//! native `async fn` in trait impls; and methods of `#[async_trait]` impls. The function's
//! signature, return value, panics and the `Send`-ness of its future are unchanged.
//!
//! # Outcome
//!
//! - A returned `Err(e)` is a failure whose reason is `e`'s `Display` text, capped at
//!   `audit_core::validate::MAX_TEXT_LEN` bytes (redaction is the pipeline's job). An error
//!   type without `Display` gives the reason ``error of type `E` ``.
//! - An error type that implements `audit_core::AuditOutcome` chooses its own outcome and
//!   reason, once for every function that returns it: every `Forbidden` is `denied`
//!   everywhere, and two conflicts can carry two reasons even when the client is told the
//!   same words.
//! - For one function, `outcome = ..` and `reason = ..` decide, and win over the error type.
//! - `Ok(_)`, and any value that is not a `Result`, is a success.
//! - This is decided from the value's real type, not from how the signature spells it:
//!   `io::Result<T>`, `anyhow::Result<T>` and a crate's own `type Result<T>` all count, and a
//!   generic `T` that happens to be a `Result` is a success unless the signature says
//!   `Result<_, E>` with `E: Display`.
//! - A panic records a failure with the reason `panicked: <message>`, then unwinds on with
//!   the original payload (whatever `outcome` says).
//! - An async call whose future is dropped before it completes (a timeout, a `select!` that
//!   picked another branch, a client that went away) records a failure with the reason
//!   `cancelled: ...` and `"cancelled": true` in the metadata. A future dropped before it was
//!   ever polled ran nothing and records nothing.
//!
//! Every event also carries the category (`business` unless set), the severity (`info`
//! unless set), the [`AuditContext`] current when the call started (actor, IP, request id,
//! session, tenant) with whatever was completed in it before the call **ended** (an actor
//! the handler's authentication established; see `audit_core::context::complete`), and
//! the call's duration as `duration_us` in the metadata. Arguments are never recorded
//! unless an option names them.
//!
//! [`AuditContext`]: https://docs.rs/audit-core/latest/audit_core/context/struct.AuditContext.html
//!
//! # Options
//!
//! | option | value | evaluated |
//! | --- | --- | --- |
//! | the first argument | the action code, a string literal; its grammar (ASCII letters, digits and `_ . : -`, starting with a letter, 1–128 characters) is checked at compile time | — |
//! | `entity_type = "booking"` | a string literal | — |
//! | `entity_id = req.id` | an expression over the arguments, rendered with `Display` | before the body, for every call |
//! | `entity_id = \|res\| res.article.slug` | a closure over a reference to the success value (the `Ok` value, or the plain return value); not allowed when the function returns `()` | after a success |
//! | both `entity_id` forms | the closure names a success, the expression every other call (a failed "add comment to article X" still names X) | as above |
//! | `actor = expr` | an `Actor`, or a string taken as a user id; wins over the context's actor | before the body |
//! | `description = "booking {req.id} by {user:?}"` | a string literal; `{arg}`, `{arg.field}` and format specs interpolate arguments | before the body |
//! | `category = authorization` | `authentication`, `authorization`, `business`, `system` or `access` (an identifier, a path such as `Category::System`, or a string) | — |
//! | `severity = warning` | `info`, `notice`, `warning`, `error` or `critical` | — |
//! | `outcome = denied` | `success`, `failure` or `denied`: the outcome of every returned error | after an `Err` |
//! | `outcome = \|e\| ..` | a closure over a reference to the error, giving an `Outcome` | after an `Err` |
//! | `reason = \|e\| ..` | a closure over a reference to the error, giving anything `Display` (capped like any reason) | after an `Err` |
//! | `metadata(seats = req.seats, ..)` | `key = expr` pairs; values go through `serde::Serialize` | before the body |
//! | `metadata(id = \|res\| res.id, ..)` | a closure over the success value: the entry is there after a success only | after a success |
//! | `before = current, after = \|p\| p` | the state before (an expression over the arguments, serialized before the body) and after (a closure over the success value): a success records their change set in `metadata.changes` (`audit_core::diff`; redaction applies to both sides); one needs the other | before the body / after a success |
//! | `crate = path` | where the runtime support is (`audit` or `audit_core`), when the macro cannot find it in your `Cargo.toml` (a crate that re-exports it) | — |
//!
//! Options are evaluated by reference before the body runs, so they may name arguments the
//! body moves or consumes, and need no `Clone`.
//!
//! Closure options are written the natural way: the closure is not called but inlined, its
//! parameter bound to a reference to the value and its body's result borrowed at once before
//! it is converted. So a field that is not `Copy`, a field of a field, a method call and
//! `format!` all work without `&` or `.clone()`: `|res| res.article.slug`,
//! `|res| res.article.slug.to_uppercase()`, `|res| format!("{}/{}", res.author, res.slug)`,
//! and destructuring `|Json(body)| body.id`.
//!
//! # In a real handler
//!
//! An axum handler takes extractors as arguments (`State`, `Json`, `Path`) and returns a
//! response type; the attribute goes on it as on any `async fn`. Here the entity of a
//! creation is a field of the response body, the entity of a deletion the path parameter;
//! the error type says once that `Forbidden` is `denied`; and the actor is set by the app's
//! own extractor after it verified the token, by completing the request's context, so the
//! events of both handlers carry it without the handler passing it on:
//!
//! ```
//! use axum::extract::{FromRequestParts, Path, State};
//! use axum::http::{StatusCode, request::Parts};
//! use axum::response::{IntoResponse, Response};
//! use axum::routing::{delete, post};
//! use axum::{Json, Router};
//! use audit_core::context::{self, Completion};
//! use audit_core::{Actor, AuditOutcome, Outcome, audited};
//!
//! #[derive(Clone, Default)]
//! struct AppState { /* the database pool */ }
//!
//! #[derive(serde::Deserialize)]
//! struct NewArticle { title: String }
//!
//! #[derive(serde::Serialize)]
//! struct Article { slug: String }
//!
//! #[derive(serde::Serialize)]
//! struct ArticleBody { article: Article }
//!
//! #[derive(Debug)]
//! enum ApiError { Forbidden, Conflict(&'static str) }
//!
//! impl std::fmt::Display for ApiError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str(match self {
//!             Self::Forbidden => "forbidden",
//!             Self::Conflict(_) => "error in the request body",
//!         })
//!     }
//! }
//!
//! /// Once for the type: every `Forbidden` of every handler is `denied`, and each conflict
//! /// keeps its own reason in the log.
//! impl AuditOutcome for ApiError {
//!     fn audit_outcome(&self) -> Outcome {
//!         match self {
//!             Self::Forbidden => Outcome::Denied,
//!             Self::Conflict(_) => Outcome::Failure,
//!         }
//!     }
//!     fn audit_reason(&self) -> String {
//!         match self {
//!             Self::Conflict(what) => format!("conflict: {what}"),
//!             other => other.to_string(),
//!         }
//!     }
//! }
//!
//! impl IntoResponse for ApiError {
//!     fn into_response(self) -> Response {
//!         match self {
//!             Self::Forbidden => StatusCode::FORBIDDEN.into_response(),
//!             Self::Conflict(_) => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
//!         }
//!     }
//! }
//!
//! /// The app's own authentication. Once the token is verified, the actor and session are
//! /// set for the rest of the request: the handler's event, and the audit layer's record of
//! /// a 401/403 after it, carry them.
//! struct CurrentUser(String);
//!
//! impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
//!     type Rejection = StatusCode; // a 401 the audit layer records
//!
//!     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
//!         let token = parts.headers.get("authorization").ok_or(StatusCode::UNAUTHORIZED)?;
//!         let user = verify(token.as_bytes()).ok_or(StatusCode::UNAUTHORIZED)?;
//!         let _ = context::complete(Completion::new().actor(Actor::user(&user)).session_id("s-1"));
//!         Ok(CurrentUser(user))
//!     }
//! }
//! # fn verify(_: &[u8]) -> Option<String> { Some("u-42".into()) }
//!
//! #[audited(
//!     "ARTICLE_CREATED",
//!     entity_type = "article",
//!     entity_id = |res| res.article.slug, // a field of the response body
//!     metadata(title = new.title),
//! )]
//! async fn create_article(
//!     State(state): State<AppState>,
//!     CurrentUser(user): CurrentUser,
//!     Json(new): Json<NewArticle>,
//! ) -> Result<Json<ArticleBody>, ApiError> {
//!     # let _ = (&state, &user);
//!     let slug = new.title.to_lowercase().replace(' ', "-");
//!     Ok(Json(ArticleBody { article: Article { slug } }))
//! }
//!
//! #[audited("ARTICLE_DELETED", entity_type = "article", entity_id = slug)]
//! async fn delete_article(
//!     State(state): State<AppState>,
//!     CurrentUser(user): CurrentUser,
//!     Path(slug): Path<String>,
//! ) -> Result<StatusCode, ApiError> {
//!     # let _ = (&state, &slug);
//!     if user != "u-42" {
//!         return Err(ApiError::Forbidden); // recorded as denied, entity still named
//!     }
//!     Ok(StatusCode::NO_CONTENT)
//! }
//!
//! let app: Router = Router::new()
//!     .route("/api/articles", post(create_article))
//!     .route("/api/articles/{slug}", delete(delete_article))
//!     .with_state(AppState::default());
//!     // .layer(audit_axum::AuditLayer::new()): IP, request id, and the 401s of `CurrentUser`
//! # let _ = app;
//! ```
//!
//! `audit-axum`'s `handlers` tests run these handlers behind the layer and check each event.
//!
//! # What it generates
//!
//! The macro crate holds no runtime logic: the generated code calls only
//! `audit_core::__private` (a hidden module that is not a public API), whose `Guard` does the
//! work. For a sync function:
//!
//! ```ignore
//! #[audited("FTMS_BOOKING_CREATED", entity_id = |b| b.id)]
//! fn create_booking(req: NewBooking) -> Result<Booking, BookingError> { body }
//! ```
//!
//! becomes, in essence:
//!
//! ```ignore
//! fn create_booking(req: NewBooking) -> Result<Booking, BookingError> {
//!     // Captures the current dispatch and AuditContext and the start time, and evaluates
//!     // the options over the arguments (by reference), before the body runs.
//!     let guard = __private::Guard::start("FTMS_BOOKING_CREATED", Category::Business, Severity::Info);
//!     // The body runs in a closure so that `return` and `?` come back here.
//!     let ret: Result<Booking, BookingError> = __private::call_once(move || { body });
//!     // Outcome from the value's type (autoref specialisation: `AuditOutcome`, then
//!     // `Display`, then any `Result`, then anything), then one event is recorded.
//!     let probe = __private::Probe(&ret);
//!     let verdict = (&&&&probe).__audit_outcome();
//!     // The closure `|b| b.id`, inlined: `b` bound to a reference, the body borrowed.
//!     let entity = match (&&&&probe).__audit_ok() {
//!         Some(value) => { let b = value; Some(__private::entity_text(&(b.id))) }
//!         None => None,
//!     };
//!     guard.finish(verdict, entity);
//!     ret
//! }
//! ```
//!
//! If the body panics, `finish` is never reached: the guard's `Drop` sees
//! `std::thread::panicking()`, records `panicked: <message>` and the panic unwinds on. No
//! `catch_unwind` is involved, so no `UnwindSafe` bound is added. (The message comes from a
//! panic hook installed on first use, which chains to the hook that was there before.)
//!
//! For an `async fn` the body becomes an inner `async move` block awaited by the function:
//!
//! ```ignore
//! async fn create_booking(req: NewBooking) -> Result<Booking, BookingError> {
//!     let guard = __private::Guard::start(/* .. */);   // runs at the first poll
//!     let ret: Result<Booking, BookingError> = async move { body }.await;
//!     guard.finish(/* .. */);
//!     ret
//! }
//! ```
//!
//! If the caller drops the future while it waits at that `.await`, the guard is dropped
//! without `finish` and outside a panic: it records the call as cancelled. The guard is
//! `Send + Sync`, so the future is `Send` exactly when the original one was.
//!
//! Under `#[async_trait]`, which expands first because it sits on the enclosing `impl`, the
//! method reaching `#[audited]` is already `fn ..(..) -> Pin<Box<dyn Future<Output = T> +
//! Send + '_>>` with the body `Box::pin(async move { .. })`; the macro recognises that shape
//! and instruments the async block the same way, keeping the `Output` type. The position of
//! `#[audited]` among the method's other attributes does not matter.
//!
//! # Limitations
//!
//! - The panic message is read by a panic hook that `audit_core` installs (chained to the
//!   previous one) on the first audited call. If the application later replaces the hook
//!   without chaining, panics are still recorded, with the reason
//!   `panicked: <message unavailable: ...>`.
//! - In a sync `#[track_caller]` function the body runs inside a closure, so
//!   `Location::caller()` inside the body reports the body, not the caller.
//! - A sync `fn` that returns a future (`-> impl Future`) is audited when it returns the
//!   future, not when the future completes; write it as an `async fn` to audit the work.
//! - `entity_id`, `actor` and `metadata` expressions may use only the arguments (and
//!   constants, statics and functions), their closures only their parameter and what the
//!   expressions may use; `description` placeholders are argument names with optional fields
//!   (`{req.id}`), not arbitrary expressions.
//!
//! # Mistakes are compile errors
//!
//! Each misuse is one error at the offending token, and the function is still emitted
//! unchanged so nothing else breaks: a missing or non-literal action code, an action code
//! outside the grammar, an unknown or repeated option, an option or `{placeholder}` naming
//! something that is not an argument, an unknown category, severity or outcome, a closure
//! `entity_id`, `metadata`, `outcome` or `reason` on a function returning `()`, a closure
//! that does not take exactly one parameter, a `reason` that is not a closure, an `outcome`
//! closure that does not give an `Outcome` (at the closure's body), and the attribute on
//! anything but a function with a body (or on a `const fn`).
#![deny(missing_docs)]

mod attr;
mod expand;
mod fallback;
mod item;
mod valid;

use proc_macro::TokenStream;

/// Records one audit event for every call of the annotated function.
///
/// `#[audited("ACTION_CODE", option = value, ...)]`; see the [crate documentation](crate)
/// for the options, the outcome rules and what the expansion looks like.
///
/// ```
/// use audit_core::{audited, testing, AuditContext, Actor, Outcome};
///
/// #[derive(Debug)]
/// struct Denied;
/// impl std::fmt::Display for Denied {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("not your booking")
///     }
/// }
///
/// #[audited("FTMS_BOOKING_CANCELLED", entity_type = "booking", entity_id = id)]
/// async fn cancel_booking(id: u64) -> Result<(), Denied> {
///     Err(Denied)
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ctx = AuditContext::new().actor(Actor::user("alice")).request_id("r-1");
/// let (_, captured) = testing::capture_async(ctx.scope(cancel_booking(7))).await;
/// let event = captured.single();
/// assert_eq!(event.outcome, Outcome::Failure);
/// assert_eq!(event.reason.as_deref(), Some("not your booking"));
/// assert_eq!(event.entity_id.as_deref(), Some("7"));
/// assert_eq!(event.actor, Some(Actor::user("alice")));
/// assert_eq!(event.request_id.as_deref(), Some("r-1"));
/// # });
/// ```
#[proc_macro_attribute]
pub fn audited(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::audited(args.into(), item.into()).into()
}
