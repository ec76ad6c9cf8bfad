//! Parsing of the attribute's arguments: `#[audited("CODE", key = value, ...)]`.
//!
//! Only the syntax is checked here; what the arguments mean for the annotated function
//! (argument names, the return type) is checked in `valid.rs`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprClosure, Ident, LitStr, Path, Token};

mod kw {
    syn::custom_keyword!(entity_type);
    syn::custom_keyword!(entity_id);
    syn::custom_keyword!(actor);
    syn::custom_keyword!(description);
    syn::custom_keyword!(category);
    syn::custom_keyword!(severity);
    syn::custom_keyword!(metadata);
}

/// The options every `#[audited]` accepts, for "unknown option" messages.
const OPTIONS: &str = "`entity_type`, `entity_id`, `actor`, `description`, `category`, \
                       `severity`, `metadata(..)` or `crate`";

/// The parsed arguments of one `#[audited(...)]`.
pub(crate) struct Args {
    /// The action code literal.
    pub(crate) action: LitStr,
    pub(crate) entity_type: Option<LitStr>,
    pub(crate) entity_id: Option<EntityId>,
    pub(crate) actor: Option<Expr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) category: Option<Named>,
    pub(crate) severity: Option<Named>,
    pub(crate) metadata: Vec<MetadataEntry>,
    /// `crate = path`: where `audit_core` is found.
    pub(crate) krate: Option<Path>,
}

/// How the entity id is computed.
pub(crate) enum EntityId {
    /// An expression over the arguments, evaluated before the body runs.
    Expr(Expr),
    /// A one-argument closure applied to the success value.
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
            actor: None,
            description: None,
            category: None,
            severity: None,
            metadata: Vec::new(),
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
                once(&args.entity_id, key.span, "entity_id")?;
                input.parse::<Token![=]>()?;
                args.entity_id = Some(match input.parse::<Expr>()? {
                    Expr::Closure(closure) => EntityId::Closure(closure),
                    other => EntityId::Expr(other),
                });
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
        Ok(args)
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
