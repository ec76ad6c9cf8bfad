//! Expansion: wraps the function body so every call records one audit event.
//!
//! The generated code only calls `<crate>::__private` items (`audit_core` by default); all
//! runtime behaviour lives there. Local names use `Span::mixed_site()` so the user's code can
//! neither see nor shadow them.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, ExprClosure, Ident, LitStr, Pat, Path, Type};

use crate::attr::{Args, OutcomeOption};
use crate::item::{self, Function, Shape};
use crate::valid::{self, Checked};

/// Expands `#[audited(args)] item`, or reports the first problem as one error plus the
/// original item (so a mistake gives one error, not a cascade of "cannot find function").
pub(crate) fn audited(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => crate::fallback::expand(error, item),
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = syn::parse2::<Args>(args);
    let function = Function::parse(item);
    let (args, function) = match (args, function) {
        (Ok(args), Ok(function)) => (args, function),
        (Err(mut first), Err(second)) => {
            first.combine(second);
            return Err(first);
        }
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => return Err(error),
    };
    let checked = valid::check(&args, &function)?;
    Ok(generate(&args, &checked, function))
}

/// Where the runtime support is when `crate = ..` is not given: the `audit` facade if the
/// calling package depends on it (under whatever name), else `audit-core`.
///
/// Found in the caller's Cargo.toml, so a service that depends on the facade alone compiles
/// without naming `audit_core`. Inside the facade's or core's own tests, doctests and
/// examples the package itself is the dependency, under its library name.
fn default_crate() -> Path {
    use proc_macro_crate::{FoundCrate, crate_name};
    for (package, library) in [("audit", "audit"), ("audit-core", "audit_core")] {
        match crate_name(package) {
            Ok(FoundCrate::Name(name)) => {
                let name = Ident::new(&name, Span::call_site());
                return syn::parse_quote!(::#name);
            }
            Ok(FoundCrate::Itself) => {
                let name = Ident::new(library, Span::call_site());
                return syn::parse_quote!(::#name);
            }
            Err(_) => {}
        }
    }
    syn::parse_quote!(::audit_core)
}

/// Names of the locals the generated code introduces.
struct Locals {
    guard: Ident,
    ret: Ident,
    probe: Ident,
    verdict: Ident,
    value: Ident,
}

fn generate(args: &Args, checked: &Checked, function: Function) -> TokenStream {
    let krate: Path = args.krate.clone().unwrap_or_else(default_crate);
    let private = quote!(#krate::__private);
    let locals = Locals {
        guard: Ident::new("__audit_guard", Span::mixed_site()),
        ret: Ident::new("__audit_ret", Span::mixed_site()),
        probe: Ident::new("__audit_probe", Span::mixed_site()),
        verdict: Ident::new("__audit_verdict", Span::mixed_site()),
        value: Ident::new("__audit_value", Span::mixed_site()),
    };
    let prologue = prologue(args, checked, &private, &locals);
    let epilogue = epilogue(args, checked, &private, &locals);
    let value_type = function.value_type().map(erase_impl_trait);
    let value_type = match value_type {
        Some(ty) => ty.into_token_stream(),
        None => quote!(_),
    };
    let ret = &locals.ret;
    let Function { mut item, shape } = function;

    match shape {
        // Input:
        //     fn f(a: A) -> R { body }
        // Output:
        //     fn f(a: A) -> R {
        //         let __audit_guard = Guard::start(..).entity_id(&(a.id));
        //         let __audit_ret: R = call_once(move || { body });
        //         __audit_guard.finish(verdict_of(&__audit_ret), ..);
        //         __audit_ret
        //     }
        Shape::Sync => {
            let block = &item.block;
            let body: Block = syn::parse_quote!({
                #prologue
                let #ret: #value_type = #private::call_once(move || #block);
                #epilogue
                #ret
            });
            *item.block = body;
        }
        // Input:
        //     async fn f(a: A) -> R { body }
        // Output:
        //     async fn f(a: A) -> R {
        //         let __audit_guard = Guard::start(..);
        //         let __audit_ret: R = async move { body }.await;
        //         __audit_guard.finish(..);
        //         __audit_ret
        //     }
        // A future dropped at the `.await` drops the guard unfinished: a cancelled failure.
        Shape::Async => {
            let block = &item.block;
            let body: Block = syn::parse_quote!({
                #prologue
                let #ret: #value_type = async move #block.await;
                #epilogue
                #ret
            });
            *item.block = body;
        }
        // Input (what `#[async_trait]` made of `async fn f(&self) -> R { body }`):
        //     fn f<'life0, 'async_trait>(&'life0 self)
        //         -> Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>
        //     { Box::pin(async move { let __self = self; let __ret: R = { body }; __ret }) }
        // Output:
        //     { Box::pin(async move {
        //         let __audit_guard = Guard::start(..);
        //         let __audit_ret: R = async move { let __self = self; .. }.await;
        //         __audit_guard.finish(..);
        //         __audit_ret
        //     }) }
        Shape::AsyncTrait { .. } => {
            if let Some(inner) = item::async_trait_block_mut(&mut item.block) {
                let block = &inner.block;
                inner.block = syn::parse_quote!({
                    #prologue
                    let #ret: #value_type = async move #block.await;
                    #epilogue
                    #ret
                });
            }
        }
    }
    item.into_token_stream()
}

/// Starts the guard and evaluates every option over the arguments, before the body runs.
fn prologue(args: &Args, checked: &Checked, private: &TokenStream, locals: &Locals) -> TokenStream {
    let Locals { guard, .. } = locals;
    let action = &args.action;
    let category = match &checked.category {
        Some(variant) => quote!(#private::Category::#variant),
        None => quote!(#private::Category::Business),
    };
    let severity = match &checked.severity {
        Some(variant) => quote!(#private::Severity::#variant),
        None => quote!(#private::Severity::Info),
    };
    let mut chain = TokenStream::new();
    if let Some(entity_type) = &args.entity_type {
        chain.extend(quote!(.entity_type(#entity_type)));
    }
    // Spanned at the user's expression so a type error points at it, not at the attribute.
    if let Some(expr) = &args.entity_id {
        chain.extend(quote_spanned!(expr.span()=> .entity_id(&(#expr))));
    }
    if let Some(actor) = &args.actor {
        chain.extend(quote_spanned!(actor.span()=> .actor(&(#actor))));
    }
    if let Some(template) = &checked.description {
        let format = LitStr::new(&template.format, template.span);
        let values = &template.args;
        chain.extend(quote!(.description(::std::format!(#format #(, #values)*))));
    }
    for entry in args.metadata.iter().filter(|e| !is_closure(&e.value)) {
        let key = metadata_key(&entry.key);
        let value = &entry.value;
        chain.extend(quote_spanned!(value.span()=> .metadata(#key, &(#value))));
    }
    if let Some(before) = &args.before {
        chain.extend(quote_spanned!(before.span()=> .before_state(&(#before))));
    }
    // Success-value metadata and the change set are added to the guard in the epilogue.
    let mutable = (args.metadata.iter().any(|e| is_closure(&e.value)) || args.after.is_some())
        .then(|| quote!(mut));
    quote! {
        let #mutable #guard = #private::Guard::start(#action, #category, #severity) #chain;
    }
}

fn is_closure(expr: &Expr) -> bool {
    matches!(expr, Expr::Closure(_))
}

fn metadata_key(key: &Ident) -> LitStr {
    LitStr::new(key.to_string().trim_start_matches("r#"), key.span())
}

/// Decides the outcome from the returned value and hands the event to the dispatch.
//
// Input:
//     #[audited("A", entity_id = |res| res.article.slug, outcome = |e| e.kind(), reason = |e| ..)]
// Output (after the body):
//     let __audit_probe = Probe(&__audit_ret);
//     let mut __audit_verdict = (&&&&__audit_probe).__audit_outcome();
//     if let Some(__audit_value) = (&&&&__audit_probe).__audit_err() {
//         { let e = __audit_value; __audit_verdict = __audit_verdict.with_outcome(e.kind()); }
//         { let e = __audit_value; __audit_verdict = __audit_verdict.with_reason(&(..)); }
//     }
//     let entity = match (&&&&__audit_probe).__audit_ok() {
//         Some(__audit_value) => { let res = __audit_value; Some(entity_text(&(res.article.slug))) }
//         None => None,
//     };
//     __audit_guard.finish(__audit_verdict, entity);
//
// Each closure's body is evaluated in place against its parameter bound to a reference and
// its result borrowed at once (`&(res.article.slug)`), so a non-`Copy` field needs no `&` or
// `.clone()`, and a temporary (`format!`, a method's result) lives until it is converted.
fn epilogue(args: &Args, checked: &Checked, private: &TokenStream, locals: &Locals) -> TokenStream {
    let Locals {
        guard,
        ret,
        probe,
        verdict,
        value,
    } = locals;
    let mut on_error = TokenStream::new();
    match (&args.outcome, &checked.outcome) {
        (Some(OutcomeOption::Closure(closure)), _) => {
            let body = inline(
                closure,
                value,
                |body| quote_spanned!(body.span()=> #verdict = #verdict.with_outcome(#body);),
            );
            on_error.extend(body);
        }
        (_, Some(variant)) => {
            on_error.extend(quote! {
                #verdict = #verdict.with_outcome(#private::Outcome::#variant);
            });
        }
        _ => {}
    }
    if let Some(closure) = &args.reason {
        on_error.extend(inline(
            closure,
            value,
            |body| quote_spanned!(body.span()=> #verdict = #verdict.with_reason(&(#body));),
        ));
    }
    let decide = if on_error.is_empty() {
        quote!(let #verdict = (&&&&#probe).__audit_outcome();)
    } else {
        quote! {
            let mut #verdict = (&&&&#probe).__audit_outcome();
            if let ::core::option::Option::Some(#value) = (&&&&#probe).__audit_err() {
                #on_error
            }
        }
    };
    let mut on_success = TokenStream::new();
    for entry in &args.metadata {
        if let Expr::Closure(closure) = &entry.value {
            let key = metadata_key(&entry.key);
            on_success.extend(inline(
                closure,
                value,
                |body| quote_spanned!(body.span()=> #guard.add_metadata(#key, &(#body));),
            ));
        }
    }
    if let Some(after) = &args.after {
        on_success.extend(inline(
            after,
            value,
            |body| quote_spanned!(body.span()=> #guard.after_state(&(#body));),
        ));
    }
    let entity = match &args.entity_id_ok {
        Some(closure) => {
            let body = inline(
                closure,
                value,
                |body| quote_spanned!(body.span()=> ::core::option::Option::Some(#private::entity_text(&(#body)))),
            );
            quote! {
                match (&&&&#probe).__audit_ok() {
                    ::core::option::Option::Some(#value) => #body,
                    ::core::option::Option::None => ::core::option::Option::None,
                }
            }
        }
        None => quote!(::core::option::Option::None),
    };
    let success_metadata = (!on_success.is_empty()).then(|| {
        quote! {
            if let ::core::option::Option::Some(#value) = (&&&&#probe).__audit_ok() {
                #on_success
            }
        }
    });
    quote! {
        {
            use #private::{
                OutcomeOfAny as _, OutcomeOfAuditError as _, OutcomeOfDisplayResult as _,
                OutcomeOfResult as _,
            };
            let #probe = #private::Probe(&#ret);
            #decide
            #success_metadata
            #guard.finish(#verdict, #entity);
        }
    }
}

/// `{ let <closure parameter> = value; <use of the body> }`: a one-parameter closure
/// evaluated in place (see [`epilogue`]). A declared return type is kept as a type check.
fn inline(
    closure: &ExprClosure,
    value: &Ident,
    use_body: impl FnOnce(TokenStream) -> TokenStream,
) -> TokenStream {
    let body = &closure.body;
    let body = match &closure.output {
        syn::ReturnType::Type(_, ty) => {
            let typed = Ident::new("__audit_typed", Span::mixed_site());
            quote_spanned!(body.span()=> { let #typed: #ty = #body; #typed })
        }
        syn::ReturnType::Default => quote!(#body),
    };
    let used = use_body(body);
    match closure.inputs.first() {
        Some(Pat::Type(typed)) => {
            let (pat, ty) = (&typed.pat, &typed.ty);
            quote!({ let #pat: #ty = #value; #used })
        }
        Some(pat) => quote!({ let #pat = #value; #used }),
        None => quote!({ #used }),
    }
}

/// `impl Trait` cannot name a local's type; `_` lets the compiler infer it.
fn erase_impl_trait(mut ty: Type) -> Type {
    struct Erase;
    impl VisitMut for Erase {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](impl_trait.span()),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    Erase.visit_type_mut(&mut ty);
    ty
}
