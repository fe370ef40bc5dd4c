//! Computing a leaf's backend URL for one message (reference §1.7, §1.8 and §3).

use iri_string::spec::UriSpec;
use iri_string::template::context::{Context, Visitor};

use crate::config::{EndpointProperty, HttpSpec, PropertyScope, Target};
use crate::message::{MessageContext, Value};

/// Why no URL could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// A prototype leaf has no backend.
    #[error("a prototype endpoint answers by itself and has no address")]
    Prototype,
    /// A `${` with no `}` in the address.
    #[error("unclosed `${{` in address `{0}`")]
    Unclosed(String),
    /// A `${name}` whose property is not set.
    #[error("property `{name}` used in address `{uri}` is not set")]
    Unset {
        /// The property.
        name: String,
        /// The address as written.
        uri: String,
    },
    /// The `<http>` template could not be expanded.
    #[error("cannot expand uri-template `{template}`: {reason}")]
    Expand {
        /// The template as written.
        template: String,
        /// The expander's reason.
        reason: String,
    },
}

/// The URL to send `msg` to.
///
/// - `<address>`: `${name}` tokens are replaced by message properties; `REST_URL_POSTFIX`
///   (the request path after the API context, with its query) is appended to REST messages.
/// - `<http>`: the RFC 6570 template is expanded with `uri.var.*` and `query.param.*`
///   (endpoint properties win over message properties). When the endpoint forces a
///   `method`, the postfix is not appended; otherwise it is, as in WSO2 Synapse.
///
/// # Errors
/// A missing `${name}` property, or a template that cannot be expanded.
pub fn resolve(
    target: &Target,
    props: &[EndpointProperty],
    msg: &MessageContext,
    rest: bool,
) -> Result<String, AddressError> {
    match target {
        Target::Address(spec) | Target::Wsdl(crate::config::WsdlSpec { address: spec, .. }) => {
            if spec.member {
                let path = msg.uri.path_and_query().map_or("/", |p| p.as_str());
                return Ok(format!("{}{path}", spec.uri));
            }
            let base = substitute(&spec.uri, msg)?;
            // The postfix joins REST messages only (reference §1.7): not SOAP ones.
            Ok(if rest {
                append_postfix(base, msg)
            } else {
                base
            })
        }
        // gRPC calls keep their own path (`/package.Service/Method`); see `grpc.rs`.
        Target::Grpc(spec) => Ok(spec.uri.clone()),
        Target::Http(spec) => {
            let url = expand(spec, props, msg)?;
            if spec.method.is_some() {
                Ok(url)
            } else {
                Ok(append_postfix(url, msg))
            }
        }
        Target::Prototype(_) => Err(AddressError::Prototype),
    }
}

/// Replaces `${name}` with the default-scope property `name`.
fn substitute(uri: &str, msg: &MessageContext) -> Result<String, AddressError> {
    if !uri.contains("${") {
        return Ok(uri.to_owned());
    }
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(AddressError::Unclosed(uri.to_owned()));
        };
        let name = &after[..end];
        match msg.get(name) {
            Some(v) => out.push_str(&v.to_string()),
            None => {
                return Err(AddressError::Unset {
                    name: name.to_owned(),
                    uri: uri.to_owned(),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Joins `REST_URL_POSTFIX` to an address with Synapse's slash rules (§1.7).
fn append_postfix(base: String, msg: &MessageContext) -> String {
    match msg.get_axis2("REST_URL_POSTFIX") {
        Some(Value::Str(postfix)) => join(base, postfix),
        Some(other) => join(base, &other.to_string()),
        None => base,
    }
}

pub(crate) fn join(mut base: String, postfix: &str) -> String {
    if postfix.is_empty() {
        return base;
    }
    let base_slash = base.ends_with('/');
    let post_slash = postfix.starts_with('/');
    let post_query = postfix.starts_with('?');
    if !base_slash && !post_slash && !post_query {
        base.push('/');
        base.push_str(postfix);
    } else if base_slash && post_slash {
        base.push_str(&postfix[1..]);
    } else if base_slash && post_query {
        base.pop();
        base.push_str(postfix);
    } else {
        base.push_str(postfix);
    }
    base
}

struct Vars<'a> {
    props: &'a [EndpointProperty],
    msg: &'a MessageContext,
    legacy: bool,
    /// The variables of reserved expansions (found at load).
    reserved: &'a [String],
}

impl Context for Vars<'_> {
    fn visit<V: Visitor>(&self, visitor: V) -> V::Result {
        let name = visitor.var_name().as_str();
        if !(name.starts_with("uri.var.") || name.starts_with("query.param.")) {
            return visitor.visit_undefined();
        }
        let from_endpoint = self
            .props
            .iter()
            .find(|p| p.scope == PropertyScope::Default && p.name == name)
            .map(|p| p.value.clone());
        let value = from_endpoint.or_else(|| self.msg.get(name).map(|v| v.to_string()));
        let value = match value {
            Some(v) if self.legacy => percent_encoding::percent_decode_str(&v)
                .decode_utf8_lossy()
                .into_owned(),
            Some(v) => v,
            None => return visitor.visit_undefined(),
        };
        if self.reserved.iter().any(|r| r == name) {
            visitor.visit_string(encoded_as_reserved(&value))
        } else {
            visitor.visit_string(value)
        }
    }
}

/// `value` as a reserved expansion writes it, for the expander to keep as it is: a `%`
/// that starts no percent-escape becomes `%25` and every non-ASCII character its UTF-8
/// escapes. iri-string 0.7.14 panics on a stray `%` before a multi-byte character in a
/// reserved expansion (found by fuzzing); the output is the same as its own.
fn encoded_as_reserved(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.char_indices() {
        let escape = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        match c {
            '%' if !escape => out.push_str("%25"),
            c if !c.is_ascii() => {
                let mut utf8 = [0; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    out.push('%');
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0xf)]));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn expand(
    spec: &HttpSpec,
    props: &[EndpointProperty],
    msg: &MessageContext,
) -> Result<String, AddressError> {
    let vars = Vars {
        props,
        msg,
        legacy: spec.legacy_encoding,
        reserved: &spec.reserved,
    };
    // The expander is a dependency: should it still panic on some value, the message gets
    // an address error, never a dead worker.
    let expanded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        spec.template
            .expand::<UriSpec, _>(&vars)
            .map(|expanded| expanded.to_string())
            .map_err(|error| error.to_string())
    }))
    .unwrap_or_else(|_| Err("the template expander failed on this value".to_owned()));
    expanded.map_err(|reason| AddressError::Expand {
        template: spec.template_source.clone(),
        reason,
    })
}

#[cfg(test)]
mod tests;
