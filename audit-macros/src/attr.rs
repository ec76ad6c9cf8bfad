//! Parsing of the attribute's arguments: `#[audited("CODE", key = value, ...)]`.
//!
//! Only the syntax is checked here; what the arguments mean for the annotated function
//! (argument names, the return type) is checked in `valid.rs`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprClosure, Ident, LitStr, Path, Token};

mod kw {
    syn::custom_keyword!(entity_type);
    syn::custom_keyword!(entity_id);
    syn::custom_keyword!(actor);
    syn::custom_keyword!(description);
    syn::custom_keyword!(category);
    syn::custom_keyword!(severity);
    syn::custom_keyword!(metadata);
    syn::custom_keyword!(before);
    syn::custom_keyword!(after);
    syn::custom_keyword!(outcome);
    syn::custom_keyword!(reason);
}

/// The options every `#[audited]` accepts, for "unknown option" messages.
const OPTIONS: &str = "`entity_type`, `entity_id`, `actor`, `description`, `category`, \
                       `severity`, `outcome`, `reason`, `metadata(..)`, `before`, `after` or \
                       `crate`";

/// The parsed arguments of one `#[audited(...)]`.
pub(crate) struct Args {
    /// The action code literal.
    pub(crate) action: LitStr,
    pub(crate) entity_type: Option<LitStr>,
    /// `entity_id = <expression over the arguments>`: every call, evaluated before the body.
    pub(crate) entity_id: Option<Expr>,
    /// `entity_id = |ok| ..`: a success, from the success value (wins over `entity_id`).
    pub(crate) entity_id_ok: Option<ExprClosure>,
    pub(crate) actor: Option<Expr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) category: Option<Named>,
    pub(crate) severity: Option<Named>,
    /// `outcome = denied` or `outcome = |e| ..`: the outcome of a returned error.
    pub(crate) outcome: Option<OutcomeOption>,
    /// `reason = |e| ..`: the reason of a returned error.
    pub(crate) reason: Option<ExprClosure>,
    pub(crate) metadata: Vec<MetadataEntry>,
    /// `before = <expression over the arguments>`: the state before the body, for the change
    /// set (with `after`).
    pub(crate) before: Option<Expr>,
    /// `after = |ok| ..`: the state after a success, from the success value.
    pub(crate) after: Option<ExprClosure>,
    /// `crate = path`: where `audit_core` is found.
    pub(crate) krate: Option<Path>,
}

/// The `outcome` option.
pub(crate) enum OutcomeOption {
    /// The same outcome for every error: `outcome = denied`.
    Named(Named),
    /// A closure over a reference to the error, giving an `Outcome`.
    Closure(ExprClosure),
}

/// A `category` or `severity` value: an identifier or a string literal, checked in `valid.rs`.
pub(crate) struct Named {
    pub(crate) value: String,
    pub(crate) span: Span,
}

/// One `key = expr` inside `metadata(...)`.
pub(crate) struct MetadataEntry {
    pub(crate) key: Ident,
    pub(crate) value: Expr,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing action code: write `#[audited(\"ACTION_CODE\")]`, \
                 for example `#[audited(\"FTMS_BOOKING_CREATED\")]`",
            ));
        }
        let action = if input.peek(LitStr) {
            input.parse::<LitStr>()?
        } else {
            let span = input
                .cursor()
                .token_tree()
                .map_or(input.span(), |(tt, _)| tt.span());
            return Err(syn::Error::new(
                span,
                "the action code must be a string literal, such as `\"FTMS_BOOKING_CREATED\"`",
            ));
        };
        let mut args = Args {
            action,
            entity_type: None,
            entity_id: None,
            entity_id_ok: None,
            actor: None,
            description: None,
            category: None,
            severity: None,
            outcome: None,
            reason: None,
            metadata: Vec::new(),
            before: None,
            after: None,
            krate: None,
        };
        let mut seen_metadata: Option<Span> = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::entity_type) {
                let key = input.parse::<kw::entity_type>()?;
                once(&args.entity_type, key.span, "entity_type")?;
                input.parse::<Token![=]>()?;
                args.entity_type = Some(string_literal(input, "entity_type", "\"booking\"")?);
            } else if lookahead.peek(kw::entity_id) {
                let key = input.parse::<kw::entity_id>()?;
                input.parse::<Token![=]>()?;
                // Once as an expression over the arguments and once as a closure over the
                // success value: both together name the entity of a failed call too.
                match input.parse::<Expr>()? {
                    Expr::Closure(closure) => {
                        once_of(&args.entity_id_ok, key.span, "entity_id", "a closure")?;
                        args.entity_id_ok = Some(closure);
                    }
                    other => {
                        once_of(&args.entity_id, key.span, "entity_id", "an expression")?;
                        args.entity_id = Some(other);
                    }
                }
            } else if lookahead.peek(kw::actor) {
                let key = input.parse::<kw::actor>()?;
                once(&args.actor, key.span, "actor")?;
                input.parse::<Token![=]>()?;
                args.actor = Some(input.parse()?);
            } else if lookahead.peek(kw::description) {
                let key = input.parse::<kw::description>()?;
                once(&args.description, key.span, "description")?;
                input.parse::<Token![=]>()?;
                args.description = Some(string_literal(
                    input,
                    "description",
                    "\"booking {id} created\"",
                )?);
            } else if lookahead.peek(kw::category) {
                let key = input.parse::<kw::category>()?;
                once(&args.category, key.span, "category")?;
                input.parse::<Token![=]>()?;
                args.category = Some(input.parse()?);
            } else if lookahead.peek(kw::severity) {
                let key = input.parse::<kw::severity>()?;
                once(&args.severity, key.span, "severity")?;
                input.parse::<Token![=]>()?;
                args.severity = Some(input.parse()?);
            } else if lookahead.peek(kw::outcome) {
                let key = input.parse::<kw::outcome>()?;
                once(&args.outcome, key.span, "outcome")?;
                input.parse::<Token![=]>()?;
                args.outcome = Some(if input.peek(Token![|]) || input.peek(Token![move]) {
                    OutcomeOption::Closure(input.parse()?)
                } else {
                    OutcomeOption::Named(input.parse()?)
                });
            } else if lookahead.peek(kw::reason) {
                let key = input.parse::<kw::reason>()?;
                once(&args.reason, key.span, "reason")?;
                input.parse::<Token![=]>()?;
                args.reason = Some(closure(input, "reason", "|e| e.to_string()")?);
            } else if lookahead.peek(kw::metadata) {
                let key = input.parse::<kw::metadata>()?;
                once(&seen_metadata, key.span, "metadata")?;
                seen_metadata = Some(key.span);
                let content;
                syn::parenthesized!(content in input);
                let entries = Punctuated::<MetadataEntry, Token![,]>::parse_terminated(&content)?;
                for entry in entries {
                    if let Some(first) = args.metadata.iter().find(|e| e.key == entry.key) {
                        let mut err = syn::Error::new(
                            entry.key.span(),
                            format!("duplicate metadata key `{}`", entry.key),
                        );
                        err.combine(syn::Error::new(first.key.span(), "first given here"));
                        return Err(err);
                    }
                    args.metadata.push(entry);
                }
            } else if lookahead.peek(kw::before) {
                let key = input.parse::<kw::before>()?;
                once(&args.before, key.span, "before")?;
                input.parse::<Token![=]>()?;
                args.before = Some(input.parse()?);
            } else if lookahead.peek(kw::after) {
                let key = input.parse::<kw::after>()?;
                once(&args.after, key.span, "after")?;
                input.parse::<Token![=]>()?;
                args.after = Some(closure(input, "after", "|ok| &ok.article")?);
            } else if lookahead.peek(Token![crate]) {
                let key = input.parse::<Token![crate]>()?;
                once(&args.krate, key.span, "crate")?;
                input.parse::<Token![=]>()?;
                args.krate = Some(input.call(Path::parse_mod_style)?);
            } else if input.peek(Ident) {
                let ident: Ident = input.parse()?;
                return Err(syn::Error::new(
                    ident.span(),
                    format!("unknown option `{ident}`; expected one of {OPTIONS}"),
                ));
            } else {
                return Err(lookahead.error());
            }
        }
        match (&args.before, &args.after) {
            (Some(before), None) => Err(syn::Error::new(
                before.span(),
                "`before` needs `after = |ok| ..`: the change set compares the two",
            )),
            (None, Some(after)) => Err(syn::Error::new(
                after.span(),
                "`after` needs `before = ..`: the change set compares the two",
            )),
            _ => Ok(args),
        }
    }
}

/// A string literal, or an error saying so at the offending token.
fn string_literal(input: ParseStream<'_>, option: &str, example: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    let span = input
        .cursor()
        .token_tree()
        .map_or(input.span(), |(tt, _)| tt.span());
    Err(syn::Error::new(
        span,
        format!("`{option}` must be a string literal, such as `{option} = {example}`"),
    ))
}

/// A closure, or an error saying so at the offending token.
fn closure(input: ParseStream<'_>, option: &str, example: &str) -> syn::Result<ExprClosure> {
    let expr: Expr = input.parse()?;
    match expr {
        Expr::Closure(closure) => Ok(closure),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "`{option}` must be a closure over a reference to the error, such as \
                 `{option} = {example}`"
            ),
        )),
    }
}

/// Rejects the second occurrence of one form of an option (`entity_id` takes an expression
/// and a closure, once each).
fn once_of<T>(previous: &Option<T>, span: Span, name: &str, form: &str) -> syn::Result<()> {
    match previous {
        Some(_) => Err(syn::Error::new(
            span,
            format!(
                "duplicate option `{name}`: it may be given once as an expression over the \
                 arguments and once as a closure over the success value, but {form} was \
                 given already"
            ),
        )),
        None => Ok(()),
    }
}

/// Rejects the second occurrence of an option, pointing at it.
fn once<T>(previous: &Option<T>, span: Span, name: &str) -> syn::Result<()> {
    match previous {
        Some(_) => Err(syn::Error::new(
            span,
            format!("duplicate option `{name}`: it may be given only once"),
        )),
        None => Ok(()),
    }
}

impl Parse for Named {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            Ok(Named {
                value: lit.value(),
                span: lit.span(),
            })
        } else if lookahead.peek(Ident) {
            // `Warning` or `Severity::Warning`: the last segment names the variant.
            let path = input.call(Path::parse_mod_style)?;
            let ident = path.segments.last().map(|segment| &segment.ident);
            let value = ident.map(Ident::to_string).unwrap_or_default();
            let span = ident.map_or_else(Span::call_site, Ident::span);
            Ok(Named { value, span })
        } else {
            Err(lookahead.error())
        }
    }
}

impl Parse for MetadataEntry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = input.call(Ident::parse_any)?;
        input.parse::<Token![=]>()?;
        Ok(MetadataEntry {
            key,
            value: input.parse()?,
        })
    }
}
