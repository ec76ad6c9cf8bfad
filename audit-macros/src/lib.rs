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
//! - `Ok(_)`, and any value that is not a `Result`, is a success.
//! - This is decided from the value's real type, not from how the signature spells it:
//!   `io::Result<T>`, `anyhow::Result<T>` and a crate's own `type Result<T>` all count, and a
//!   generic `T` that happens to be a `Result` is a success unless the signature says
//!   `Result<_, E>` with `E: Display`.
//! - A panic records a failure with the reason `panicked: <message>`, then unwinds on with
//!   the original payload.
//! - An async call whose future is dropped before it completes (a timeout, a `select!` that
//!   picked another branch, a client that went away) records a failure with the reason
//!   `cancelled: ...` and `"cancelled": true` in the metadata. A future dropped before it was
//!   ever polled ran nothing and records nothing.
//!
//! Every event also carries the category (`business` unless set), the severity (`info`
//! unless set), the [`AuditContext`] current when the call started (actor, IP, request id,
//! session, tenant), and the call's duration as `duration_us` in the metadata. Arguments are
//! never recorded unless an option names them.
//!
//! [`AuditContext`]: https://docs.rs/audit-core/latest/audit_core/context/struct.AuditContext.html
//!
//! # Options
//!
//! | option | value | evaluated |
//! | --- | --- | --- |
//! | the first argument | the action code, a string literal; its grammar (ASCII letters, digits and `_ . : -`, starting with a letter, 1–128 characters) is checked at compile time | — |
//! | `entity_type = "booking"` | a string literal | — |
//! | `entity_id = req.id` | an expression over the arguments, rendered with `Display` | before the body |
//! | `entity_id = \|b\| b.id` | a closure over a reference to the success value (the `Ok` value, or the plain return value); not allowed when the function returns `()` | after a success |
//! | `actor = expr` | an `Actor`, or a string taken as a user id; wins over the context's actor | before the body |
//! | `description = "booking {req.id} by {user:?}"` | a string literal; `{arg}`, `{arg.field}` and format specs interpolate arguments | before the body |
//! | `category = authorization` | `authentication`, `authorization`, `business` or `system` (an identifier, a path such as `Category::System`, or a string) | — |
//! | `severity = warning` | `info`, `notice`, `warning`, `error` or `critical` | — |
//! | `metadata(seats = req.seats, ..)` | `key = expr` pairs; values go through `serde::Serialize` | before the body |
//! | `crate = path` | where the runtime support is (`audit` or `audit_core`), when the macro cannot find it in your `Cargo.toml` (a crate that re-exports it) | — |
//!
//! Options are evaluated by reference before the body runs, so they may name arguments the
//! body moves or consumes, and need no `Clone`.
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
//!     // Outcome from the value's type (autoref specialisation), then one event is recorded.
//!     let probe = __private::Probe(&ret);
//!     guard.finish((&&&probe).__audit_outcome(), __private::entity_of((&&&probe).__audit_ok(), |b| b.id));
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
//! - `entity_id`, `actor` and `metadata` may use only the arguments (and constants, statics
//!   and functions); `description` placeholders are argument names with optional fields
//!   (`{req.id}`), not arbitrary expressions.
//!
//! # Mistakes are compile errors
//!
//! Each misuse is one error at the offending token, and the function is still emitted
//! unchanged so nothing else breaks: a missing or non-literal action code, an action code
//! outside the grammar, an unknown or repeated option, an option or `{placeholder}` naming
//! something that is not an argument, an unknown category or severity, a closure
//! `entity_id` on a function returning `()`, and the attribute on anything but a function
//! with a body (or on a `const fn`).
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
