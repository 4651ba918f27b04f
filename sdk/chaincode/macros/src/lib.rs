//! The `#[contract]` attribute of `weft-chaincode` (use it through
//! `weft_chaincode::contract`). It reads an inherent impl block whose
//! `#[tx]` / `#[query]` methods are the chaincode's functions and generates:
//!
//! - `impl weft_chaincode::Contract`: a dispatcher that parses each
//!   argument (`String`/`&str` as is, anything else as JSON), calls the
//!   method and turns its `Result` into an `Outcome`; and the function list;
//! - on `wasm32` only: the exports `weft_alloc` and `weft_invoke`, and the
//!   custom sections `weft_abi` (the ABI version) and `weft_contract` (the
//!   function list, encoded here at compile time).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, Pat, Type, parse_macro_input};
use weft_abi::TxKind;
use weft_abi::exports::{ExportedTx, encode_contract};

/// Marks an impl block as the crate's chaincode contract; see the
/// `weft-chaincode` crate docs. Methods marked `#[tx]` or `#[query]` must be
/// associated functions `fn name(ctx: &mut Context, a: A, …) -> Result<R>`
/// with `R: Serialize` and every `A` either `String`, `&str` or
/// `DeserializeOwned`. Only one `#[contract]` may exist per crate.
#[proc_macro_attribute]
pub fn contract(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(Span::call_site(), "#[contract] takes no arguments")
            .to_compile_error()
            .into();
    }
    let mut block = parse_macro_input!(item as ItemImpl);
    match expand(&mut block) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// One exported method.
struct Export {
    name: syn::Ident,
    kind: TxKind,
    params: Vec<Param>,
}

/// One argument after `ctx`.
struct Param {
    name: String,
    ty: Type,
    raw: Raw,
}

/// How an argument string becomes the parameter.
enum Raw {
    Owned,
    Borrowed,
    Json,
}

fn expand(block: &mut ItemImpl) -> syn::Result<TokenStream2> {
    if let Some((_, path, _)) = &block.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "#[contract] goes on an inherent impl block, not a trait impl",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(syn::Error::new(
            block.generics.span(),
            "a contract type cannot be generic",
        ));
    }
    let mut exports = Vec::new();
    for item in &mut block.items {
        if let ImplItem::Fn(method) = item
            && let Some(kind) = take_kind(method)?
        {
            exports.push(export(method, kind)?);
        }
    }
    if exports.is_empty() {
        return Err(syn::Error::new(
            block.self_ty.span(),
            "a contract needs at least one #[tx] or #[query] method",
        ));
    }
    let self_ty = &block.self_ty;
    let specs = exports.iter().map(|e| {
        let name = e.name.to_string();
        let kind = match e.kind {
            TxKind::Transaction => quote!(Transaction),
            TxKind::Query => quote!(Query),
        };
        quote!(::weft_chaincode::TxSpec { name: #name, kind: ::weft_chaincode::TxKind::#kind })
    });
    let arms = exports.iter().map(dispatch_arm);
    let wasm = wasm_exports(self_ty, &exports);
    Ok(quote! {
        #block

        impl ::weft_chaincode::Contract for #self_ty {
            fn dispatch(
                ctx: &mut ::weft_chaincode::Context,
                function: &str,
                args: &[::std::string::String],
            ) -> ::weft_chaincode::Outcome {
                match function {
                    #(#arms)*
                    _ => ::weft_chaincode::__private::unknown_function(
                        function,
                        <Self as ::weft_chaincode::Contract>::transactions(),
                    ),
                }
            }

            fn transactions() -> &'static [::weft_chaincode::TxSpec] {
                &[#(#specs),*]
            }
        }

        #wasm
    })
}

/// Removes the `#[tx]` / `#[query]` marker of a method and says which it was.
fn take_kind(method: &mut ImplItemFn) -> syn::Result<Option<TxKind>> {
    let mut kind = None;
    let mut error = None;
    method.attrs.retain(|attr| {
        let found = if attr.path().is_ident("tx") {
            TxKind::Transaction
        } else if attr.path().is_ident("query") {
            TxKind::Query
        } else {
            return true;
        };
        if kind.is_some() || !matches!(attr.meta, syn::Meta::Path(_)) {
            error = Some(syn::Error::new(
                attr.span(),
                "use exactly one #[tx] or #[query], without arguments",
            ));
        }
        kind = Some(found);
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(kind),
    }
}

fn export(method: &ImplItemFn, kind: TxKind) -> syn::Result<Export> {
    let sig = &method.sig;
    if !sig.generics.params.is_empty() || sig.asyncness.is_some() {
        return Err(syn::Error::new(
            sig.span(),
            "contract functions cannot be generic or async",
        ));
    }
    let mut inputs = sig.inputs.iter();
    let ctx_ok = match inputs.next() {
        Some(FnArg::Typed(first)) => {
            matches!(&*first.ty, Type::Reference(r) if r.mutability.is_some())
        }
        _ => false,
    };
    if !ctx_ok {
        return Err(syn::Error::new(
            sig.span(),
            "a contract function has no `self` and takes `ctx: &mut Context` first",
        ));
    }
    let mut params = Vec::new();
    for (i, input) in inputs.enumerate() {
        let FnArg::Typed(arg) = input else {
            return Err(syn::Error::new(input.span(), "unexpected `self`"));
        };
        let name = match &*arg.pat {
            Pat::Ident(p) => p.ident.to_string().trim_start_matches('_').to_string(),
            _ => format!("argument {}", i + 1),
        };
        params.push(Param {
            name,
            ty: (*arg.ty).clone(),
            raw: raw_kind(&arg.ty),
        });
    }
    Ok(Export {
        name: sig.ident.clone(),
        kind,
        params,
    })
}

/// `String` and `&str` parameters take the argument as it is.
fn raw_kind(ty: &Type) -> Raw {
    let is_ident = |ty: &Type, name: &str| match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == name)
        }
        _ => false,
    };
    match ty {
        Type::Reference(r) if r.mutability.is_none() && is_ident(&r.elem, "str") => Raw::Borrowed,
        _ if is_ident(ty, "String") => Raw::Owned,
        _ => Raw::Json,
    }
}

fn dispatch_arm(e: &Export) -> TokenStream2 {
    let method = &e.name;
    let fname = method.to_string();
    let count = e.params.len();
    let names: Vec<&str> = e.params.iter().map(|p| p.name.as_str()).collect();
    let vars: Vec<syn::Ident> = (0..count)
        .map(|i| format_ident!("__weft_arg{}", i))
        .collect();
    let lets = e.params.iter().zip(&vars).enumerate().map(|(i, (p, var))| {
        let (ty, pname) = (&p.ty, &p.name);
        match p.raw {
            Raw::Owned => quote!(let #var: #ty = ::std::clone::Clone::clone(&args[#i]);),
            Raw::Borrowed => quote!(let #var: #ty = args[#i].as_str();),
            Raw::Json => quote! {
                let #var: #ty = match ::weft_chaincode::__private::parse_arg(#fname, #pname, &args[#i]) {
                    ::core::result::Result::Ok(v) => v,
                    ::core::result::Result::Err(outcome) => return outcome,
                };
            },
        }
    });
    quote! {
        #fname => {
            if args.len() != #count {
                return ::weft_chaincode::__private::arity_error(#fname, &[#(#names),*], args.len());
            }
            #(#lets)*
            ::weft_chaincode::__private::into_outcome(Self::#method(ctx, #(#vars),*))
        }
    }
}

fn wasm_exports(self_ty: &Type, exports: &[Export]) -> TokenStream2 {
    let listed: Vec<ExportedTx> = exports
        .iter()
        .map(|e| ExportedTx {
            name: e.name.to_string(),
            kind: e.kind,
        })
        .collect();
    let contract = encode_contract(&listed);
    let contract_len = contract.len();
    let abi = weft_abi::ABI_VERSION.to_le_bytes();
    let abi_section = weft_abi::exports::ABI_SECTION;
    let contract_section = weft_abi::exports::CONTRACT_SECTION;
    quote! {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            #[unsafe(no_mangle)]
            extern "C" fn weft_alloc(len: i32) -> i32 {
                ::weft_chaincode::__private::alloc(len)
            }

            #[unsafe(no_mangle)]
            extern "C" fn weft_invoke(ptr: i32, len: i32) -> i64 {
                // SAFETY: the host calls this with the buffer it got from
                // `weft_alloc(len)` and filled with the invocation.
                unsafe { ::weft_chaincode::__private::invoke::<#self_ty>(ptr, len) }
            }

            #[unsafe(link_section = #abi_section)]
            #[used]
            static WEFT_ABI: [u8; 4] = [#(#abi),*];

            #[unsafe(link_section = #contract_section)]
            #[used]
            static WEFT_CONTRACT: [u8; #contract_len] = [#(#contract),*];
        };
    }
}
