//! Expressions written in mediator attributes, compiled once at load with the namespace
//! prefixes in scope of their element.

use crate::config::{Attr, Diagnostics, Element};
use crate::expr::Expression;

/// The expression written in `attr` of `el` (namespace prefixes resolve in `el`'s scope),
/// compiled once here; a diagnostic at the attribute otherwise.
pub(crate) fn expression(attr: &Attr, el: &Element, diags: &mut Diagnostics) -> Option<Expression> {
    match Expression::compile(&attr.value, &el.namespaces) {
        Ok(it) => Some(it),
        Err(message) => {
            diags.error(&attr.loc, format!("`{}`: {message}", attr.name));
            None
        }
    }
}

/// A value that is either literal or computed per message (`{expression}`), as in
/// `<sequence key="{...}">` and `<with-param value="{...}">`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Dynamic {
    /// Written as is.
    Literal(String),
    /// Written as `{expression}`.
    Expr(Expression),
}

/// Parses a value that may be `{expression}`.
pub(crate) fn dynamic(attr: &Attr, el: &Element, diags: &mut Diagnostics) -> Option<Dynamic> {
    let raw = attr.value.trim();
    match raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        Some(inner) if inner.starts_with('{') => {
            diags.unsupported(
                &attr.loc,
                format!(
                    "`{{{{...}}}}` (expressions evaluated inside the template) in `{}`",
                    attr.name
                ),
            );
            None
        }
        Some(inner) => match Expression::compile(inner, &el.namespaces) {
            Ok(it) => Some(Dynamic::Expr(it)),
            Err(message) => {
                diags.error(&attr.loc, format!("`{}`: {message}", attr.name));
                None
            }
        },
        None => Some(Dynamic::Literal(raw.to_owned())),
    }
}
