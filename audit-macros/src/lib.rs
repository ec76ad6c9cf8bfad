//! The `#[audited]` attribute. Use it through `audit_core::audited`.
#![deny(missing_docs)]

mod attr;
mod expand;
mod fallback;
mod item;
mod valid;

use proc_macro::TokenStream;

/// Records an audit event for every call of the annotated function.
#[proc_macro_attribute]
pub fn audited(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::audited(args.into(), item.into()).into()
}
