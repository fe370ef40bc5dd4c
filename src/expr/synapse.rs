//! Synapse's extensions to XPath: where `get-property()` and the `$ctx:`, `$trp:`,
//! `$axis2:`, `$func:`, `$url:` variables read from, and the extension functions
//! (`base64Encode`, `base64Decode`, `url-encode`).
//!
//! Property reads are resolved in Rust before the XPath runs (the compiled expression
//! reads them as plain variables), so an expression that only reads properties never
//! needs the payload.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sxd_xpath::function::{self, Args, Function};
use sxd_xpath::{Value as XValue, context};

use super::error::{CompileError, FunctionError};
use crate::message::addressing::Field;
use crate::message::{MessageContext, Scope, Value};

/// Where a property read takes its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A message property (`default` and `operation` scopes, `$ctx:`).
    Default(String),
    /// An engine property (`axis2`, `$axis2:`).
    Axis2(String),
    /// A transport header of the current message (`transport`, `$trp:`).
    Transport(String),
    /// A parameter of the innermost sequence template (`func`, `$func:`).
    Func(String),
    /// A query parameter of the request URL, matched case-insensitively (`$url:`).
    Url(String),
    /// An environment variable of the Axon process (`env`).
    Env(String),
    /// Milliseconds since the Unix epoch (`SYSTEM_TIME`).
    SystemTime,
    /// The current UTC time in a Java `SimpleDateFormat` pattern (`SYSTEM_DATE`).
    SystemDate(String),
    /// The `To` address (`To`).
    To,
    /// The message id (`MessageID`): the one the `header` mediator set, else Axon's.
    MessageId,
    /// A WS-Addressing field set by the `header` mediator (`From`, `ReplyTo`, `FaultTo`,
    /// `RelatesTo`); the empty string when unset.
    Wsa(Field),
    /// The SOAP action (`Action`).
    Action,
    /// `soap11`, `soap12`, `json`, `pox` or `text`, from the `Content-Type` (`MESSAGE_FORMAT`).
    MessageFormat,
}

/// The default `SYSTEM_DATE` pattern.
const DEFAULT_DATE_FORMAT: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX";

/// Maps `get-property(...)` arguments (literals) to a [`Source`].
///
/// # Errors
/// An unknown or unsupported scope.
pub(crate) fn get_property(args: &[String]) -> Result<Source, CompileError> {
    match args {
        [name] => Ok(special(name).unwrap_or_else(|| Source::Default(name.clone()))),
        [first, second] => {
            if first == "SYSTEM_DATE" {
                return Ok(Source::SystemDate(second.clone()));
            }
            scoped(first, second)
        }
        _ => Err(CompileError::GetPropertyArity(args.len())),
    }
}

/// Maps a `$prefix:name` variable to a [`Source`].
///
/// # Errors
/// An unknown prefix.
pub(crate) fn variable(prefix: &str, name: &str) -> Result<Source, CompileError> {
    let name = name.to_owned();
    match prefix {
        "ctx" | "operation" => Ok(Source::Default(name)),
        "axis2" => Ok(Source::Axis2(name)),
        "trp" => Ok(Source::Transport(name)),
        "func" => Ok(Source::Func(name)),
        "url" => Ok(Source::Url(name)),
        "env" => Ok(Source::Env(name)),
        other => Err(CompileError::UnknownVariablePrefix {
            prefix: other.to_owned(),
            name,
        }),
    }
}

fn special(name: &str) -> Option<Source> {
    Some(match name {
        "SYSTEM_TIME" => Source::SystemTime,
        "SYSTEM_DATE" => Source::SystemDate(DEFAULT_DATE_FORMAT.to_owned()),
        "To" => Source::To,
        "MessageID" => Source::MessageId,
        "From" | "ReplyTo" | "FaultTo" | "RelatesTo" => Source::Wsa(Field::named(name)?),
        "Action" => Source::Action,
        "MESSAGE_FORMAT" => Source::MessageFormat,
        _ => return None,
    })
}

fn scoped(scope: &str, name: &str) -> Result<Source, CompileError> {
    let name = name.to_owned();
    match scope {
        "default" | "operation" => Ok(special(&name).unwrap_or(Source::Default(name))),
        "axis2" | "axis2-client" => Ok(Source::Axis2(name)),
        "transport" | "trp" => Ok(Source::Transport(name)),
        "func" => Ok(Source::Func(name)),
        "env" => Ok(Source::Env(name)),
        "registry" | "system" | "file" => Err(CompileError::UnsupportedScope(scope.to_owned())),
        other => Err(CompileError::UnknownScope(other.to_owned())),
    }
}

/// The typed value of a property read (message, engine and template properties only).
pub(crate) fn typed_value(source: &Source, msg: &MessageContext) -> Option<Value> {
    match source {
        Source::Default(name) => msg.property(Scope::Default, name),
        Source::Axis2(name) => msg.property(Scope::Axis2, name),
        Source::Func(name) => msg.func_param(name),
        _ => None,
    }
}

/// The value of `source` for `msg`; a missing value is the empty string, as XPath sees it.
pub(crate) fn resolve(source: &Source, msg: &MessageContext) -> String {
    let value = match source {
        Source::Default(name) => msg.property(Scope::Default, name).map(|v| v.to_string()),
        Source::Axis2(name) => msg.property(Scope::Axis2, name).map(|v| v.to_string()),
        Source::Transport(name) => msg.property(Scope::Transport, name).map(|v| v.to_string()),
        Source::Func(name) => msg.func_param(name).map(|v| v.to_string()),
        Source::Url(name) => query_param(msg, name),
        Source::Env(name) => std::env::var(name).ok(),
        Source::SystemTime => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis().to_string()),
        Source::SystemDate(pattern) => Some(format_date(pattern, SystemTime::now())),
        Source::To => msg.to.clone().or_else(|| Some(msg.uri.to_string())),
        Source::MessageId => Some(
            msg.wsa
                .get(Field::MessageId)
                .map_or_else(|| msg.id.to_string(), str::to_owned),
        ),
        Source::Wsa(field) => msg.wsa.get(*field).map(str::to_owned),
        Source::Action => crate::message::soap::action(&msg.headers),
        Source::MessageFormat => Some(message_format(msg.content_type()).to_owned()),
    };
    value.unwrap_or_default()
}

fn message_format(content_type: Option<&str>) -> &'static str {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("application/soap+xml") {
        "soap12"
    } else if ct.contains("text/xml") {
        "soap11"
    } else if ct.contains("json") {
        "json"
    } else if ct.contains("xml") {
        "pox"
    } else if ct.starts_with("text/") {
        "text"
    } else {
        "pox"
    }
}

pub(crate) fn query_param(msg: &MessageContext, name: &str) -> Option<String> {
    let query = msg.uri.query()?;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key.eq_ignore_ascii_case(name) {
            let spaced = value.replace('+', " ");
            return Some(
                percent_encoding::percent_decode_str(&spaced)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
        }
    }
    None
}

/// Formats `time` (UTC) with the common letters of a Java `SimpleDateFormat` pattern:
/// `yyyy yy MM dd HH hh mm ss SSS a XXX Z`, with `'quoted'` literals.
pub(crate) fn format_date(pattern: &str, time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i = push_quoted(&chars, i, &mut out);
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        match c {
            'y' if n == 2 => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            'y' => out.push_str(&format!("{year:04}")),
            'M' => out.push_str(&format!("{month:0n$}")),
            'd' => out.push_str(&format!("{day:0n$}")),
            'H' => out.push_str(&format!("{hour:0n$}")),
            'h' => out.push_str(&format!("{:0n$}", (hour + 11) % 12 + 1)),
            'm' => out.push_str(&format!("{minute:0n$}")),
            's' => out.push_str(&format!("{second:0n$}")),
            'S' => out.push_str(&format!("{millis:03}")),
            'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'X' => out.push('Z'),
            'Z' => out.push_str("+0000"),
            other => {
                for _ in 0..n {
                    out.push(other);
                }
            }
        }
        i += n;
    }
    out
}

/// Copies the quoted literal that starts at `chars[start]` (`''` is a quote) to `out`;
/// returns the index after it.
fn push_quoted(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut j = start + 1;
    if chars.get(j) == Some(&'\'') {
        out.push('\'');
        return start + 2;
    }
    loop {
        match (chars.get(j), chars.get(j + 1)) {
            (None, _) => break,
            (Some('\''), Some('\'')) => {
                out.push('\'');
                j += 2;
            }
            (Some('\''), _) => break,
            (Some(c), _) => {
                out.push(*c);
                j += 1;
            }
        }
    }
    j + 1
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// --- extension functions ---

/// An extension function from one string (and an optional `UTF-8` charset) to a string.
pub(crate) struct StringFunction(fn(&str) -> Result<String, FunctionError>);

/// `base64Encode(string[, charset])`: the UTF-8 bytes of the string, in base64.
pub(crate) const BASE64_ENCODE: StringFunction =
    StringFunction(|text| Ok(base64::engine::general_purpose::STANDARD.encode(text.as_bytes())));

/// `base64Decode(string[, charset])`: base64 to text (UTF-8).
pub(crate) const BASE64_DECODE: StringFunction = StringFunction(|text| {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim().as_bytes())
        .map_err(FunctionError::Base64)?;
    String::from_utf8(bytes).map_err(|_| FunctionError::NotUtf8)
});

/// `url-encode(string[, charset])`: `application/x-www-form-urlencoded` encoding.
pub(crate) const URL_ENCODE: StringFunction = StringFunction(|text| Ok(form_urlencode(text)));

impl Function for StringFunction {
    fn evaluate<'c, 'd>(
        &self,
        _context: &context::Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, function::Error> {
        let args = Args(args);
        args.at_least(1)?;
        args.at_most(2)?;
        let mut values = args.0;
        if values.len() == 2 {
            let charset = values.pop().map(XValue::into_string).unwrap_or_default();
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
                return Err(function::Error::Other(format!(
                    "charset `{charset}` is not supported (only UTF-8)"
                )));
            }
        }
        let text = values.pop().map(XValue::into_string).unwrap_or_default();
        (self.0)(&text)
            .map(XValue::String)
            .map_err(|error| function::Error::Other(error.to_string()))
    }
}

/// Java's `URLEncoder.encode(text, "UTF-8")`: unreserved `A-Za-z0-9.-*_`, space as `+`.
fn form_urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Extension functions and the arguments they take (min, max).
pub(crate) const EXTENSIONS: &[(&str, usize, usize)] = &[
    ("base64Encode", 1, 2),
    ("base64Decode", 1, 2),
    ("url-encode", 1, 2),
];

/// XPath 1.0 core functions and the arguments they take (min, max); `usize::MAX` is
/// "any number".
pub(crate) const CORE: &[(&str, usize, usize)] = &[
    ("last", 0, 0),
    ("position", 0, 0),
    ("count", 1, 1),
    ("local-name", 0, 1),
    ("namespace-uri", 0, 1),
    ("name", 0, 1),
    ("string", 0, 1),
    ("concat", 2, usize::MAX),
    ("starts-with", 2, 2),
    ("contains", 2, 2),
    ("substring-before", 2, 2),
    ("substring-after", 2, 2),
    ("substring", 2, 3),
    ("string-length", 0, 1),
    ("normalize-space", 0, 1),
    ("translate", 3, 3),
    ("boolean", 1, 1),
    ("not", 1, 1),
    ("true", 0, 0),
    ("false", 0, 0),
    ("number", 0, 1),
    ("sum", 1, 1),
    ("floor", 1, 1),
    ("ceiling", 1, 1),
    ("round", 1, 1),
];

/// Functions that read the context node when called without arguments.
pub(crate) const CONTEXT_FUNCTIONS: &[&str] = &[
    "last",
    "position",
    "local-name",
    "namespace-uri",
    "name",
    "string",
    "string-length",
    "normalize-space",
    "number",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn get_property_arguments_map_to_sources() {
        let s =
            |args: &[&str]| get_property(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["uri.var.id"]), Ok(Source::Default("uri.var.id".into())));
        assert_eq!(
            s(&["axis2", "HTTP_SC"]),
            Ok(Source::Axis2("HTTP_SC".into()))
        );
        assert_eq!(
            s(&["transport", "Accept"]),
            Ok(Source::Transport("Accept".into()))
        );
        assert_eq!(
            s(&["SYSTEM_DATE", "yyyy"]),
            Ok(Source::SystemDate("yyyy".into()))
        );
        assert_eq!(s(&["MessageID"]), Ok(Source::MessageId));
        assert!(
            s(&["registry", "x"])
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        assert!(
            s(&["bogus", "x"])
                .unwrap_err()
                .to_string()
                .contains("unknown")
        );
        assert!(s(&[]).is_err());
        assert_eq!(
            variable("trp", "Host"),
            Ok(Source::Transport("Host".into()))
        );
        assert!(variable("nope", "x").is_err());
    }

    #[test]
    fn dates_follow_simple_date_format_letters() {
        // 2024-02-29T13:05:09.007Z
        let t = UNIX_EPOCH + Duration::from_millis(1_709_211_909_007);
        assert_eq!(
            format_date(DEFAULT_DATE_FORMAT, t),
            "2024-02-29T13:05:09.007Z"
        );
        assert_eq!(
            format_date("dd/MM/yy hh:mm a 'o''clock'", t),
            "29/02/24 01:05 PM o'clock"
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn form_encoding_matches_java() {
        assert_eq!(form_urlencode("a b&c=d/é*"), "a+b%26c%3Dd%2F%C3%A9*");
    }
}
