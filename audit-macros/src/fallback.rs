//! What is emitted when the attribute is misused: the error, plus the item unchanged.
//!
//! Keeping the original item means the rest of the crate still sees the function, so the
//! user gets the one error that matters instead of a cascade of unresolved names.

use proc_macro2::TokenStream;

/// The compile error followed by the original item.
pub(crate) fn expand(error: syn::Error, original: TokenStream) -> TokenStream {
    let mut tokens = error.to_compile_error();
    tokens.extend(original);
    tokens
}
