//! Parsing of the annotated item into a typed view of the function and its shape.

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{
    Attribute, Block, Expr, ExprAsync, GenericArgument, ItemFn, PathArguments, ReturnType, Stmt,
    Type, TypeParamBound, Visibility,
};

/// The function `#[audited]` is applied to.
pub(crate) struct Function {
    pub(crate) item: ItemFn,
    pub(crate) shape: Shape,
}

/// How the function produces its result, which decides where the audit code goes.
pub(crate) enum Shape {
    /// A plain `fn`: the body runs in a closure so `return` and `?` come back to us.
    Sync,
    /// An `async fn`: the body runs as an inner `async move` block awaited by the outer one.
    Async,
    /// A method rewritten by `#[async_trait]`: `fn ..() -> Pin<Box<dyn Future<Output = T> ..>>`
    /// whose body is `Box::pin(async move { .. })`. The async block is instrumented.
    AsyncTrait {
        /// `T` of `Output = T`, when it can be read from the signature.
        output: Option<Box<Type>>,
    },
}

impl Function {
    /// Parses `item`, or explains why `#[audited]` does not apply to it.
    pub(crate) fn parse(item: TokenStream) -> syn::Result<Self> {
        let item = match syn::parse2::<ItemFn>(item.clone()) {
            Ok(item) => item,
            Err(_) => return Err(not_a_function(item)),
        };
        if let Some(constness) = &item.sig.constness {
            return Err(syn::Error::new(
                constness.span,
                "#[audited] cannot be used on a `const fn`: recording an event is not possible \
                 in a const context",
            ));
        }
        if let Some(variadic) = &item.sig.variadic {
            return Err(syn::Error::new_spanned(
                variadic,
                "#[audited] cannot be used on a variadic function",
            ));
        }
        let shape = if item.sig.asyncness.is_some() {
            Shape::Async
        } else if async_trait_block(&item.block).is_some() {
            Shape::AsyncTrait {
                output: future_output(&item.sig.output).map(Box::new),
            }
        } else {
            Shape::Sync
        };
        Ok(Function { item, shape })
    }

    /// The type the caller eventually gets: the declared return type, or for `#[async_trait]`
    /// methods the future's output. `None` when it cannot be read (treated as unknown).
    pub(crate) fn value_type(&self) -> Option<Type> {
        match &self.shape {
            Shape::Sync | Shape::Async => Some(match &self.item.sig.output {
                ReturnType::Default => syn::parse_quote!(()),
                ReturnType::Type(_, ty) => (**ty).clone(),
            }),
            Shape::AsyncTrait { output } => output.as_deref().cloned(),
        }
    }
}

/// The `async move { .. }` of an `#[async_trait]` body: a single `Box::pin(async move { .. })`.
pub(crate) fn async_trait_block(block: &Block) -> Option<&ExprAsync> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segments: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    if !segments.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    match call.args.first() {
        Some(Expr::Async(inner)) if inner.capture.is_some() => Some(inner),
        _ => None,
    }
}

/// Mutable access to the same block as [`async_trait_block`].
pub(crate) fn async_trait_block_mut(block: &mut Block) -> Option<&mut ExprAsync> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_mut_slice() else {
        return None;
    };
    match call.args.first_mut() {
        Some(Expr::Async(inner)) => Some(inner),
        _ => None,
    }
}

/// Finds `T` in `Pin<Box<dyn Future<Output = T> + Send + 'a>>`.
fn future_output(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    find_output(ty)
}

fn find_output(ty: &Type) -> Option<Type> {
    match ty {
        Type::Path(path) => path.path.segments.iter().find_map(|segment| {
            let PathArguments::AngleBracketed(args) = &segment.arguments else {
                return None;
            };
            args.args.iter().find_map(|arg| match arg {
                GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                    Some(assoc.ty.clone())
                }
                GenericArgument::Type(inner) => find_output(inner),
                _ => None,
            })
        }),
        Type::TraitObject(object) => object.bounds.iter().find_map(|bound| match bound {
            TypeParamBound::Trait(bound) => find_output(&Type::Path(syn::TypePath {
                qself: None,
                path: bound.path.clone(),
            })),
            _ => None,
        }),
        Type::Paren(inner) => find_output(&inner.elem),
        Type::Group(inner) => find_output(&inner.elem),
        _ => None,
    }
}

/// The error for an item that is not a function with a body, pointing at its first token.
fn not_a_function(item: TokenStream) -> syn::Error {
    struct Head(Option<TokenTree>, bool);
    impl Parse for Head {
        fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
            input.call(Attribute::parse_outer)?;
            input.parse::<Visibility>()?;
            let looks_like_fn = input.fork().parse::<syn::Signature>().is_ok();
            let head = input.parse::<TokenTree>().ok();
            input.parse::<TokenStream>()?;
            Ok(Head(head, looks_like_fn))
        }
    }
    match syn::parse2::<Head>(item) {
        Ok(Head(Some(head), true)) => syn::Error::new(
            head.span(),
            "#[audited] needs a function with a body; a trait method without a default body \
             cannot be audited (annotate the method in each impl instead)",
        ),
        Ok(Head(Some(head), false)) => syn::Error::new(
            head.span(),
            "#[audited] can only be applied to a function or method",
        ),
        _ => syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[audited] can only be applied to a function or method",
        ),
    }
}
