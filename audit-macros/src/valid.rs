//! Validation of the arguments against the annotated function, in its own pass.
//!
//! Every problem found is reported (combined into one `syn::Error`), each at its own token.

use std::collections::BTreeSet;

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote_spanned;
use syn::visit::Visit;
use syn::{Expr, FnArg, Pat, Type};

use crate::attr::{Args, Named, OutcomeOption};
use crate::item::Function;

/// Longest action code (`audit_core::validate::MAX_ACTION_LEN`).
const MAX_ACTION_LEN: usize = 128;
/// Longest entity type (`audit_core::validate::MAX_ID_LEN`).
const MAX_ID_LEN: usize = 256;

const CATEGORIES: [(&str, &str); 5] = [
    ("authentication", "Authentication"),
    ("authorization", "Authorization"),
    ("business", "Business"),
    ("system", "System"),
    ("access", "Access"),
];

const OUTCOMES: [(&str, &str); 3] = [
    ("success", "Success"),
    ("failure", "Failure"),
    ("denied", "Denied"),
];

const SEVERITIES: [(&str, &str); 5] = [
    ("info", "Info"),
    ("notice", "Notice"),
    ("warning", "Warning"),
    ("error", "Error"),
    ("critical", "Critical"),
];

/// What validation derived from the arguments, ready for expansion.
pub(crate) struct Checked {
    /// The `Category` variant, if one was given.
    pub(crate) category: Option<Ident>,
    /// The `Severity` variant, if one was given.
    pub(crate) severity: Option<Ident>,
    /// The `Outcome` variant of `outcome = <name>`, if one was given.
    pub(crate) outcome: Option<Ident>,
    /// The description as a `format!` template over the named arguments.
    pub(crate) description: Option<Template>,
}

/// A description with its `{arg}` placeholders turned into positional `format!` arguments.
pub(crate) struct Template {
    /// The format string, with `{0}`, `{1:?}`, ...
    pub(crate) format: String,
    /// The span of the original literal.
    pub(crate) span: Span,
    /// One borrowed expression per placeholder, in order.
    pub(crate) args: Vec<TokenStream>,
}

/// Checks `args` against `function`.
pub(crate) fn check(args: &Args, function: &Function) -> syn::Result<Checked> {
    let mut errors = Errors::default();
    let names = argument_names(function);
    let fn_name = function.item.sig.ident.to_string();

    if let Err(problem) = action_code(&args.action.value()) {
        errors.push(syn::Error::new(
            args.action.span(),
            format!("invalid action code {:?}: {problem}", args.action.value()),
        ));
    }
    if let Some(entity_type) = &args.entity_type {
        let value = entity_type.value();
        if value.is_empty() || value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
            errors.push(syn::Error::new(
                entity_type.span(),
                format!("`entity_type` must be 1 to {MAX_ID_LEN} bytes without control characters"),
            ));
        }
    }
    if let Some(expr) = &args.entity_id {
        check_names(expr, "entity_id", &names, &fn_name, &mut errors);
    }
    if let Some(actor) = &args.actor {
        check_names(actor, "actor", &names, &fn_name, &mut errors);
    }
    let mut closures = Vec::new();
    if let Some(closure) = &args.entity_id_ok {
        closures.push(
            ClosureOption::on_success(closure, "entity_id".to_owned())
                .instead("; use `entity_id = <expression over the arguments>`"),
        );
    }
    for entry in &args.metadata {
        match &entry.value {
            Expr::Closure(closure) => closures.push(
                ClosureOption::on_success(closure, format!("metadata({}", entry.key))
                    .instead("; use an expression over the arguments"),
            ),
            value => check_names(value, "metadata", &names, &fn_name, &mut errors),
        }
    }
    if let Some(OutcomeOption::Closure(closure)) = &args.outcome {
        closures.push(ClosureOption::on_error(closure, "outcome"));
    }
    if let Some(closure) = &args.reason {
        closures.push(ClosureOption::on_error(closure, "reason"));
    }
    let unit = returns_unit(function);
    for option in closures {
        option.check(unit, &fn_name, &mut errors);
    }
    let outcome = match &args.outcome {
        Some(OutcomeOption::Named(named)) => variant(named, "outcome", &OUTCOMES, &mut errors),
        _ => None,
    };
    let category = args
        .category
        .as_ref()
        .and_then(|named| variant(named, "category", &CATEGORIES, &mut errors));
    let severity = args
        .severity
        .as_ref()
        .and_then(|named| variant(named, "severity", &SEVERITIES, &mut errors));
    let description = args.description.as_ref().and_then(|lit| {
        match template(&lit.value(), lit.span(), &names, &fn_name) {
            Ok(template) => Some(template),
            Err(err) => {
                errors.push(err);
                None
            }
        }
    });

    errors.finish(Checked {
        category,
        severity,
        outcome,
        description,
    })
}

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// The action code grammar of `audit_core::validate::action_code`: ASCII letters, digits and
/// `_ . : -`, starting with a letter, 1 to 128 characters.
pub(crate) fn action_code(code: &str) -> Result<(), &'static str> {
    let Some(first) = code.as_bytes().first() else {
        return Err("it is empty");
    };
    if code.len() > MAX_ACTION_LEN {
        return Err("it is longer than 128 characters");
    }
    if !first.is_ascii_alphabetic() {
        return Err("it must start with an ASCII letter");
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    {
        return Err("only ASCII letters, digits and `_ . : -` are allowed");
    }
    Ok(())
}

/// A closure option, checked for its parameter count and for what it is applied to.
struct ClosureOption<'a> {
    closure: &'a syn::ExprClosure,
    /// How the option is written up to its `=`: `entity_id`, `metadata(seats`.
    key: String,
    /// The option's name in "the `..` closure takes ..".
    name: &'static str,
    example: &'static str,
    /// What the parameter is a reference to.
    param: &'static str,
    /// What the closure is applied to, in the `()` error.
    applies_to: &'static str,
    instead: &'static str,
}

impl<'a> ClosureOption<'a> {
    fn on_success(closure: &'a syn::ExprClosure, key: String) -> Self {
        let name = if key.starts_with("metadata") {
            "metadata"
        } else {
            "entity_id"
        };
        Self {
            closure,
            key,
            name,
            example: "|booking| booking.id",
            param: "success value",
            applies_to: "the success value",
            instead: "",
        }
    }

    fn on_error(closure: &'a syn::ExprClosure, name: &'static str) -> Self {
        Self {
            closure,
            key: name.to_owned(),
            name,
            example: "|e| ..",
            param: "error",
            applies_to: "the error of a `Result`",
            instead: "",
        }
    }

    fn instead(mut self, instead: &'static str) -> Self {
        self.instead = instead;
        self
    }

    fn check(&self, unit: bool, fn_name: &str, errors: &mut Errors) {
        let Self {
            closure,
            key,
            name,
            example,
            param,
            applies_to,
            instead,
        } = self;
        if closure.inputs.len() != 1 {
            errors.push(syn::Error::new_spanned(
                &closure.inputs,
                format!(
                    "the `{name}` closure takes exactly one argument: a reference to the \
                     {param}, as in `{name} = {example}`"
                ),
            ));
        }
        if unit {
            let close = if key.contains('(') { ")" } else { "" };
            errors.push(syn::Error::new_spanned(
                closure.or1_token,
                format!(
                    "`{key} = |..| ..{close}` is applied to {applies_to}, but `{fn_name}` \
                     returns `()`{instead}"
                ),
            ));
        }
    }
}

/// Whether the caller's value is `()`: no return type, `-> ()`, or `Output = ()`.
fn returns_unit(function: &Function) -> bool {
    matches!(function.value_type(), Some(Type::Tuple(tuple)) if tuple.elems.is_empty())
}

fn variant(
    named: &Named,
    option: &str,
    known: &[(&str, &'static str)],
    errors: &mut Errors,
) -> Option<Ident> {
    let wanted = named.value.to_ascii_lowercase();
    match known.iter().find(|(lower, _)| *lower == wanted) {
        Some((_, variant)) => Some(Ident::new(variant, named.span)),
        None => {
            let list: Vec<&str> = known.iter().map(|(lower, _)| *lower).collect();
            errors.push(syn::Error::new(
                named.span,
                format!(
                    "unknown {option} `{}`; expected one of: {}",
                    named.value,
                    list.join(", ")
                ),
            ));
            None
        }
    }
}

/// The names the function's arguments bind, `self` included.
fn argument_names(function: &Function) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for input in &function.item.sig.inputs {
        match input {
            FnArg::Receiver(_) => {
                names.insert("self".to_owned());
            }
            FnArg::Typed(typed) => bind_names(&typed.pat, &mut names),
        }
    }
    names
}

fn bind_names(pat: &Pat, names: &mut BTreeSet<String>) {
    match pat {
        Pat::Ident(ident) => {
            names.insert(ident.ident.to_string());
            if let Some((_, sub)) = &ident.subpat {
                bind_names(sub, names);
            }
        }
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| bind_names(p, names)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| bind_names(p, names)),
        Pat::Struct(item) => item.fields.iter().for_each(|f| bind_names(&f.pat, names)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|p| bind_names(p, names)),
        Pat::Reference(reference) => bind_names(&reference.pat, names),
        Pat::Type(typed) => bind_names(&typed.pat, names),
        Pat::Paren(paren) => bind_names(&paren.pat, names),
        Pat::Or(or) => or.cases.iter().for_each(|p| bind_names(p, names)),
        _ => {}
    }
}

/// Reports variables used in an option's expression that are not arguments of the function.
///
/// A lowercase single-segment path in value position is a variable (constants and statics
/// are uppercase; function names in call position are skipped), and before the body runs
/// the only variables in scope are the arguments.
fn check_names(
    expr: &Expr,
    option: &str,
    names: &BTreeSet<String>,
    fn_name: &str,
    errors: &mut Errors,
) {
    struct Finder<'a> {
        names: &'a BTreeSet<String>,
        unknown: Vec<Ident>,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
            if node.qself.is_some() || node.path.segments.len() != 1 {
                return;
            }
            let Some(segment) = node.path.segments.first() else {
                return;
            };
            let name = segment.ident.to_string();
            let variable = name
                .chars()
                .next()
                .is_some_and(|c| c.is_lowercase() || c == '_');
            if variable && segment.arguments.is_none() && !self.names.contains(&name) {
                self.unknown.push(segment.ident.clone());
            }
        }
        fn visit_expr_call(&mut self, node: &'ast syn::ExprCall) {
            if !matches!(&*node.func, Expr::Path(_)) {
                self.visit_expr(&node.func);
            }
            for arg in &node.args {
                self.visit_expr(arg);
            }
        }
        // A closure's parameters shadow; its body is not checked.
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut finder = Finder {
        names,
        unknown: Vec::new(),
    };
    finder.visit_expr(expr);
    for ident in finder.unknown {
        errors.push(not_an_argument(
            &ident.to_string(),
            ident.span(),
            option,
            fn_name,
        ));
    }
}

fn not_an_argument(name: &str, span: Span, option: &str, fn_name: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "`{name}` is not an argument of `{fn_name}`; `{option}` can only use the \
             function's arguments"
        ),
    )
}

/// Turns `"booking {req.id} by {user:?}"` into `"booking {0} by {1:?}"` plus the borrowed
/// expressions `&req.id`, `&user`, checking each root name is an argument.
fn template(
    text: &str,
    span: Span,
    names: &BTreeSet<String>,
    fn_name: &str,
) -> syn::Result<Template> {
    let mut format = String::with_capacity(text.len());
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                format.push_str("{{");
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                format.push_str("}}");
            }
            '}' => {
                return Err(syn::Error::new(
                    span,
                    "unmatched `}` in `description`; write `}}` for a literal brace",
                ));
            }
            '{' => {
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => inner.push(c),
                        None => {
                            return Err(syn::Error::new(
                                span,
                                "unclosed `{` in `description`; write `{{` for a literal brace",
                            ));
                        }
                    }
                }
                let (path, spec) = match inner.split_once(':') {
                    Some((path, spec)) => (path.trim(), Some(spec)),
                    None => (inner.trim(), None),
                };
                let mut parts = path.split('.');
                let root = parts.next().unwrap_or_default();
                if root.is_empty() {
                    return Err(syn::Error::new(
                        span,
                        "`description` placeholders must name an argument, as in `{booking_id}`",
                    ));
                }
                if !names.contains(root) {
                    return Err(not_an_argument(root, span, "description", fn_name));
                }
                // `names` holds only identifiers the parser produced, so this cannot panic.
                let root_ident = match root.strip_prefix("r#") {
                    Some(raw) => Ident::new_raw(raw, span),
                    None => Ident::new(root, span),
                };
                let mut expr = quote_spanned!(span=> #root_ident);
                for field in parts {
                    let member = syn::parse_str::<syn::Member>(field.trim()).map_err(|_| {
                        syn::Error::new(
                            span,
                            format!("`{field}` in `{{{path}}}` is not a field name"),
                        )
                    })?;
                    let member = respan_member(member, span);
                    expr = quote_spanned!(span=> #expr.#member);
                }
                args.push(quote_spanned!(span=> &#expr));
                format.push('{');
                format.push_str(&(args.len() - 1).to_string());
                if let Some(spec) = spec {
                    format.push(':');
                    format.push_str(spec);
                }
                format.push('}');
            }
            other => format.push(other),
        }
    }
    Ok(Template { format, span, args })
}

fn respan_member(member: syn::Member, span: Span) -> syn::Member {
    match member {
        syn::Member::Named(ident) => syn::Member::Named(Ident::new(&ident.to_string(), span)),
        syn::Member::Unnamed(index) => syn::Member::Unnamed(syn::Index {
            index: index.index,
            span,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::action_code;

    #[test]
    fn action_code_grammar_matches_audit_core() {
        let long = "A".repeat(129);
        let max = "A".repeat(128);
        let cases = [
            "FTMS_BOOKING_CREATED",
            "authn_login_fail",
            "a",
            "x.y:z-1",
            "",
            "drop table;",
            "1ABC",
            "_A",
            "A B",
            "é",
            "Aé",
            long.as_str(),
            max.as_str(),
        ];
        for code in cases {
            assert_eq!(
                action_code(code).is_ok(),
                audit_core::validate::action_code(code).is_ok(),
                "{code:?}"
            );
        }
    }
}
