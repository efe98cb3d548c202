//! `#[derive(Model)]`: turns a struct into a Terraform schema with its
//! decoder, encoder and partial twin. See `tfplugin_model::model` for the
//! attribute grammar; this crate only generates code for it.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote};
use syn::{parse_macro_input, Data, DeriveInput, Expr, Fields, Ident, LitInt, LitStr, Type};

#[proc_macro_derive(Model, attributes(tf))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let ast = parse_macro_input!(input as DeriveInput);
    match expand(&ast) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Required,
    Optional,
    Computed,
    OptionalComputed,
}

#[derive(PartialEq)]
enum Shape {
    Attribute,
    Block,
    Flatten,
    Timeouts,
}

struct Opts {
    ident: Ident,
    ty: Type,
    name: String,
    doc: String,
    kind: Option<Kind>,
    shape: Shape,
    sensitive: bool,
    replace: bool,
    keep: bool,
    deprecated: bool,
    plain: bool,
    default: Option<Expr>,
    validators: Vec<Expr>,
    timeouts: Option<Expr>,
    min_items: Option<LitInt>,
    max_items: Option<LitInt>,
}

/// The last path segment of a type and its first generic argument.
fn wrapper(ty: &Type) -> Option<(String, Option<Type>)> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    let inner = match &seg.arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            syn::GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        }),
        _ => None,
    };
    Some((seg.ident.to_string(), inner))
}

fn doc_of(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for a in attrs {
        if !a.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &a.meta {
            if let Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
            {
                lines.push(s.value().trim().to_string());
            }
        }
    }
    let mut out = String::new();
    for l in lines {
        if l.is_empty() {
            if !out.ends_with("\n\n") && !out.is_empty() {
                out.push_str("\n\n");
            }
            continue;
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push(' ');
        }
        out.push_str(&l);
    }
    out.trim().to_string()
}

fn parse_field(f: &syn::Field) -> syn::Result<Opts> {
    let ident = f
        .ident
        .clone()
        .ok_or_else(|| syn::Error::new_spanned(f, "Model fields must be named"))?;
    let mut o = Opts {
        name: ident.to_string().trim_start_matches("r#").to_string(),
        ident,
        ty: f.ty.clone(),
        doc: doc_of(&f.attrs),
        kind: None,
        shape: Shape::Attribute,
        sensitive: false,
        replace: false,
        keep: false,
        deprecated: false,
        plain: false,
        default: None,
        validators: Vec::new(),
        timeouts: None,
        min_items: None,
        max_items: None,
    };
    for a in f.attrs.iter().filter(|a| a.path().is_ident("tf")) {
        a.parse_nested_meta(|m| {
            let p = &m.path;
            let set_kind = |o: &mut Opts, k: Kind| -> syn::Result<()> {
                o.kind = Some(match (o.kind, k) {
                    (None, k) => k,
                    (Some(Kind::Optional), Kind::Computed) | (Some(Kind::Computed), Kind::Optional) => {
                        Kind::OptionalComputed
                    }
                    _ => return Err(m.error("conflicting attribute kinds")),
                });
                Ok(())
            };
            if p.is_ident("required") {
                set_kind(&mut o, Kind::Required)
            } else if p.is_ident("optional") {
                set_kind(&mut o, Kind::Optional)
            } else if p.is_ident("computed") {
                set_kind(&mut o, Kind::Computed)
            } else if p.is_ident("sensitive") {
                o.sensitive = true;
                Ok(())
            } else if p.is_ident("replace") {
                o.replace = true;
                Ok(())
            } else if p.is_ident("keep") {
                o.keep = true;
                Ok(())
            } else if p.is_ident("deprecated") {
                o.deprecated = true;
                Ok(())
            } else if p.is_ident("plain") {
                o.plain = true;
                Ok(())
            } else if p.is_ident("block") {
                o.shape = Shape::Block;
                Ok(())
            } else if p.is_ident("flatten") {
                o.shape = Shape::Flatten;
                Ok(())
            } else if p.is_ident("default") {
                o.default = Some(m.value()?.parse()?);
                Ok(())
            } else if p.is_ident("validate") {
                o.validators.push(m.value()?.parse()?);
                Ok(())
            } else if p.is_ident("timeouts") {
                o.shape = Shape::Timeouts;
                o.timeouts = Some(m.value()?.parse()?);
                Ok(())
            } else if p.is_ident("name") {
                let s: LitStr = m.value()?.parse()?;
                o.name = s.value();
                Ok(())
            } else if p.is_ident("min_items") {
                o.min_items = Some(m.value()?.parse()?);
                Ok(())
            } else if p.is_ident("max_items") {
                o.max_items = Some(m.value()?.parse()?);
                Ok(())
            } else {
                Err(m.error("unknown tf option; use required, optional, computed, sensitive, replace, keep, deprecated, plain, block, flatten, default = .., validate = .., timeouts = .., name = \"..\", min_items = .., max_items = .."))
            }
        })?;
    }
    if o.shape != Shape::Flatten && o.shape != Shape::Timeouts && o.doc.is_empty() {
        return Err(syn::Error::new_spanned(
            &o.ident,
            "every attribute and block needs a description: write a doc comment (///) on this field",
        ));
    }
    Ok(o)
}

fn kind_of(o: &Opts) -> syn::Result<Kind> {
    let wrap = wrapper(&o.ty).map(|(w, _)| w);
    let k = match (o.kind, &o.default) {
        (Some(k), Some(_)) if k != Kind::OptionalComputed && k != Kind::Optional => {
            return Err(syn::Error::new_spanned(
                &o.ident,
                "a default makes an attribute optional and computed",
            ))
        }
        (_, Some(_)) => Kind::OptionalComputed,
        (Some(k), None) => k,
        (None, None) => match wrap.as_deref() {
            Some("Option") => Kind::Optional,
            Some("Val") => Kind::Computed,
            _ => Kind::Required,
        },
    };
    let optional_type = matches!(wrap.as_deref(), Some("Option") | Some("Val"));
    if matches!(k, Kind::Optional | Kind::OptionalComputed) && o.default.is_none() && !optional_type
    {
        return Err(syn::Error::new_spanned(
            &o.ty,
            "an optional attribute needs a default or a type that can be absent (Option<T> or Val<T>)",
        ));
    }
    Ok(k)
}

fn expand(ast: &DeriveInput) -> syn::Result<Tokens> {
    let name = &ast.ident;
    if !ast.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &ast.generics,
            "Model structs cannot be generic",
        ));
    }
    let Data::Struct(ds) = &ast.data else {
        return Err(syn::Error::new_spanned(ast, "Model is derived for structs"));
    };
    let Fields::Named(named) = &ds.fields else {
        return Err(syn::Error::new_spanned(ast, "Model needs named fields"));
    };
    let fields: Vec<Opts> = named
        .named
        .iter()
        .map(parse_field)
        .collect::<syn::Result<_>>()?;
    let tf = quote!(::tfplugin_model);
    let vis = &ast.vis;
    let partial = format_ident!("{}Partial", name);

    let mut attrs = Vec::new();
    let mut blocks = Vec::new();
    let mut decodes = Vec::new();
    let mut encodes = Vec::new();
    let mut partial_fields = Vec::new();
    let mut partial_decodes = Vec::new();

    for f in &fields {
        let (ident, ty, fname, doc) = (&f.ident, &f.ty, &f.name, &f.doc);
        let path = quote!(&at.clone().attr(#fname));
        let fdoc = format!("`{fname}`, or None while it is not known.");
        match f.shape {
            Shape::Flatten => {
                attrs.push(quote!(out.extend(<#ty as #tf::model::Model>::attributes());));
                blocks.push(quote!(out.extend(<#ty as #tf::model::Model>::blocks());));
                decodes.push(quote!(#ident: <#ty as #tf::model::Model>::decode_object(v, at)?,));
                encodes.push(quote!(#tf::model::Model::encode_into(&self.#ident, out);));
                partial_fields.push(quote!(#[doc = "What is known of the flattened attributes."] pub #ident: <#ty as #tf::model::Model>::Partial,));
                partial_decodes.push(quote!(#ident: <#ty as #tf::model::Model>::partial(v, at),));
            }
            Shape::Timeouts => {
                let d = f.timeouts.as_ref();
                blocks.push(quote!(out.push(#tf::model::Timeouts::block(#d));));
                decodes.push(
                    quote!(#ident: #tf::model::Timeouts::decode_with(v.get(#fname), #path, #d)?,),
                );
                encodes.push(quote!(out.insert(#fname.to_string(), self.#ident.encode());));
                partial_fields
                    .push(quote!(#[doc = #fdoc] pub #ident: ::core::option::Option<#ty>,));
                partial_decodes.push(quote!(#ident: #tf::model::Timeouts::decode_with(v.get(#fname), #path, #d).ok(),));
            }
            Shape::Block => {
                let (nesting, inner, default_min, max) = match wrapper(ty) {
                    Some((w, Some(inner))) if w == "Option" => (quote!(Single), inner, 0i64, 1i64),
                    Some((w, Some(inner))) if w == "Vec" => (quote!(List), inner, 0, 0),
                    _ => (quote!(Single), ty.clone(), 1, 1),
                };
                let min = f.min_items.as_ref().map(|l| quote!(#l)).unwrap_or_else(|| {
                    let l = LitInt::new(&default_min.to_string(), Span::call_site());
                    quote!(#l)
                });
                let max = f.max_items.as_ref().map(|l| quote!(#l)).unwrap_or_else(|| {
                    let l = LitInt::new(&max.to_string(), Span::call_site());
                    quote!(#l)
                });
                let replace = f.replace.then(|| quote!(let b = b.requires_replace();));
                let vals = &f.validators;
                blocks.push(quote!({
                    let b = #tf::schema::NestedBlock::new(#fname, #tf::schema::Nesting::#nesting, <#inner as #tf::model::Model>::block(#doc)).items(#min, #max);
                    #replace
                    #( let b = b.validate(#vals); )*
                    out.push(b);
                }));
                decodes.push(quote!(#ident: #tf::model::decode::<#ty>(v.get(#fname), #path)?,));
                encodes.push(quote!(out.insert(#fname.to_string(), #tf::model::Field::encode(&self.#ident));));
                partial_fields
                    .push(quote!(#[doc = #fdoc] pub #ident: ::core::option::Option<#ty>,));
                partial_decodes
                    .push(quote!(#ident: #tf::model::decode::<#ty>(v.get(#fname), #path).ok(),));
            }
            Shape::Attribute => {
                let (req, opt, comp) = match kind_of(f)? {
                    Kind::Required => (true, false, false),
                    Kind::Optional => (false, true, false),
                    Kind::Computed => (false, false, true),
                    Kind::OptionalComputed => (false, true, true),
                };
                let default = f.default.as_ref().map(|d| {
                    quote!(let a = a.default(#tf::model::Field::encode(&<#ty as ::core::convert::From<_>>::from(#d)));)
                });
                let sens = f.sensitive.then(|| quote!(let a = a.sensitive();));
                let rep = f.replace.then(|| quote!(let a = a.requires_replace();));
                let keep = f.keep.then(|| quote!(let a = a.use_state_for_unknown();));
                let dep = f.deprecated.then(|| quote!(let a = a.deprecated();));
                let vals = &f.validators;
                let ty_expr = if f.plain {
                    quote!(#tf::model::plain(<#ty as #tf::model::Field>::attr_type()))
                } else {
                    quote!(<#ty as #tf::model::Field>::attr_type())
                };
                attrs.push(quote!({
                    let a = #tf::schema::Attribute::typed(#fname, #ty_expr, #doc)
                        .flags(#req, #opt, #comp);
                    #default #sens #rep #keep #dep
                    #( let a = a.validate(#vals); )*
                    out.push(a);
                }));
                let dec = match &f.default {
                    Some(d) => {
                        quote!(#tf::model::decode_or::<#ty>(v.get(#fname), #path, || #tf::model::Field::encode(&<#ty as ::core::convert::From<_>>::from(#d))))
                    }
                    None => quote!(#tf::model::decode::<#ty>(v.get(#fname), #path)),
                };
                decodes.push(quote!(#ident: #dec?,));
                encodes.push(quote!(out.insert(#fname.to_string(), #tf::model::Field::encode(&self.#ident));));
                partial_fields
                    .push(quote!(#[doc = #fdoc] pub #ident: ::core::option::Option<#ty>,));
                partial_decodes.push(quote!(#ident: #dec.ok(),));
            }
        }
    }

    let partial_doc =
        format!("What is known of a [`{name}`] at plan time: each field None while unknown.");
    Ok(quote! {
        #[doc = #partial_doc]
        #[derive(Clone, Debug, Default)]
        #[allow(dead_code)]
        #vis struct #partial {
            #(#partial_fields)*
        }

        impl #tf::model::Model for #name {
            type Partial = #partial;
            fn attributes() -> ::std::vec::Vec<#tf::schema::Attribute> {
                #[allow(unused_mut)]
                let mut out = ::std::vec::Vec::new();
                #(#attrs)*
                out
            }
            fn blocks() -> ::std::vec::Vec<#tf::schema::NestedBlock> {
                #[allow(unused_mut)]
                let mut out = ::std::vec::Vec::new();
                #(#blocks)*
                out
            }
            fn decode_object(v: &#tf::Value, at: &#tf::AttrPath) -> ::core::result::Result<Self, #tf::model::DecodeError> {
                if !v.is_known() {
                    return ::core::result::Result::Err(#tf::model::DecodeError::Unknown(at.clone()));
                }
                ::core::result::Result::Ok(#name { #(#decodes)* })
            }
            fn encode_into(&self, out: &mut ::std::collections::BTreeMap<::std::string::String, #tf::Value>) {
                #(#encodes)*
            }
            fn partial(v: &#tf::Value, at: &#tf::AttrPath) -> #partial {
                #partial { #(#partial_decodes)* }
            }
        }

        impl #tf::model::Field for #name {
            fn attr_type() -> #tf::schema::AttrType {
                <#name as #tf::model::Model>::nested_type()
            }
            fn decode_known(v: &#tf::Value, at: &#tf::AttrPath) -> ::core::result::Result<Self, #tf::model::DecodeError> {
                if v.as_map().is_none() {
                    return ::core::result::Result::Err(#tf::model::DecodeError::invalid(at, "is not an object"));
                }
                <#name as #tf::model::Model>::decode_object(v, at)
            }
            fn encode(&self) -> #tf::Value {
                <#name as #tf::model::Model>::to_value(self)
            }
        }
    })
}
