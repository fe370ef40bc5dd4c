//! Typed values of attributes and element text: durations, numbers, code lists, booleans.
//!
//! Each parser records a diagnostic at the value's place and returns `None` on a bad value,
//! so the caller keeps going and every problem is reported in one run.

use std::time::Duration;

use crate::base::diag::{Diagnostics, Loc};
use crate::base::xml::Element;

/// A non-negative number of milliseconds (Synapse durations are milliseconds).
pub(crate) fn millis(
    text: &str,
    loc: &Loc,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Duration> {
    let t = text.trim();
    if t.starts_with('{') {
        diags.unsupported(
            loc,
            format!("a dynamic (`{{expression}}`) value for `{what}`"),
        );
        return None;
    }
    match t.parse::<i64>() {
        Ok(n) if n >= 0 => Some(Duration::from_millis(n as u64)),
        Ok(_) => {
            diags.error(loc, format!("`{what}` must not be negative, found `{t}`"));
            None
        }
        Err(_) => {
            diags.error(
                loc,
                format!("`{what}` must be a number of milliseconds, found `{t}`"),
            );
            None
        }
    }
}

/// A value where a negative number (MI's tooling writes `-1`) means "the default":
/// `Some(None)` then, `Some(Some(v))` for what `parse` accepts, `None` after its diagnostic.
pub(crate) fn or_default<T>(
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<Option<T>> {
    if is_negative(text) {
        return Some(None);
    }
    parse(text).map(Some)
}

/// True for a negative number as Synapse parses one (`-1`, `-2.5`).
fn is_negative(text: &str) -> bool {
    text.trim()
        .parse::<f64>()
        .is_ok_and(|n| n.is_finite() && n < 0.0)
}

/// A non-negative integer.
pub(crate) fn count(text: &str, loc: &Loc, what: &str, diags: &mut Diagnostics) -> Option<u32> {
    let t = text.trim();
    match t.parse::<i64>() {
        Ok(n) if (0..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
        Ok(_) => {
            diags.error(
                loc,
                format!("`{what}` must be a non-negative whole number, found `{t}`"),
            );
            None
        }
        Err(_) => {
            diags.error(loc, format!("`{what}` must be a whole number, found `{t}`"));
            None
        }
    }
}

/// A positive decimal number.
pub(crate) fn positive_float(
    text: &str,
    loc: &Loc,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<f64> {
    let t = text.trim();
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Some(f),
        Ok(_) => {
            diags.error(
                loc,
                format!("`{what}` must be a positive number, found `{t}`"),
            );
            None
        }
        Err(_) => {
            diags.error(loc, format!("`{what}` must be a number, found `{t}`"));
            None
        }
    }
}

/// A list of error codes separated by commas and/or whitespace. Codes are 32-bit signed
/// numbers, as Synapse reads them: `-1`, which MI writes for "no codes", matches no failure.
pub(crate) fn error_codes(text: &str, loc: &Loc, diags: &mut Diagnostics) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        match item.parse::<i32>() {
            Ok(code) => out.push(i64::from(code)),
            Err(_) => {
                diags.error(loc, format!("error code `{item}` is not a number"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `true`/`false` (case-insensitive).
pub(crate) fn boolean(text: &str, loc: &Loc, what: &str, diags: &mut Diagnostics) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        other => {
            diags.error(
                loc,
                format!("`{what}` must be `true` or `false`, found `{other}`"),
            );
            None
        }
    }
}

/// The keyword written in `attr` of `el`, one of `choices` (`default` when the attribute is
/// absent); otherwise the diagnostic "unknown `what` `x` (expected `expected`)".
pub(crate) fn keyword<T: Copy>(
    el: &Element,
    attr: &str,
    default: T,
    choices: &[(&str, T)],
    (what, expected): (&str, &str),
    diags: &mut Diagnostics,
) -> Option<T> {
    let Some(a) = el.attr(attr) else {
        return Some(default);
    };
    let found = a.value.trim();
    match choices.iter().find(|(word, _)| *word == found) {
        Some((_, value)) => Some(*value),
        None => {
            diags.error(
                &a.loc,
                format!("unknown {what} `{found}` (expected {expected})"),
            );
            None
        }
    }
}

/// `action="set|remove"` (default `set`): true for `remove`.
pub(crate) fn remove_action(el: &Element, diags: &mut Diagnostics) -> Option<bool> {
    match el.attr("action") {
        None => Some(false),
        Some(a) => match a.value.trim() {
            "set" => Some(false),
            "remove" => Some(true),
            other => {
                diags.error(
                    &a.loc,
                    format!(
                        "unknown {} action `{other}` (expected set or remove)",
                        el.local_name()
                    ),
                );
                None
            }
        },
    }
}

/// A regex that must match a whole text (Java's `Matcher.matches()`, as Synapse uses it);
/// a diagnostic (one line) at `loc` otherwise.
pub(crate) fn whole_regex(
    pattern: &str,
    loc: &Loc,
    diags: &mut Diagnostics,
) -> Option<regex::Regex> {
    match regex::Regex::new(&format!("^(?:{pattern})$")) {
        Ok(r) => Some(r),
        Err(error) => {
            let text = error.to_string();
            let reason = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or(&text)
                .trim()
                .trim_start_matches("error: ");
            diags.error(loc, format!("invalid regex `{pattern}`: {reason}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn loc() -> Loc {
        Loc::file_start(Arc::from("t.xml"))
    }

    #[test]
    fn durations_reject_negative_and_non_numeric() {
        let mut d = Diagnostics::default();
        assert_eq!(
            millis("250", &loc(), "duration", &mut d),
            Some(Duration::from_millis(250))
        );
        assert_eq!(millis("-1", &loc(), "duration", &mut d), None);
        assert_eq!(millis("soon", &loc(), "duration", &mut d), None);
        assert_eq!(millis("{$ctx:t}", &loc(), "duration", &mut d), None);
        let msgs: Vec<_> = d.iter().map(|x| x.message.clone()).collect();
        assert!(msgs[0].contains("must not be negative"));
        assert!(msgs[1].contains("number of milliseconds"));
        assert!(msgs[2].contains("not supported"));
    }

    #[test]
    fn code_lists_accept_commas_and_spaces() {
        let mut d = Diagnostics::default();
        assert_eq!(
            error_codes("101504, 101505 101507", &loc(), &mut d),
            Some(vec![101504, 101505, 101507])
        );
        assert_eq!(error_codes("101504,x", &loc(), &mut d), None);
        assert_eq!(d.error_count(), 1);
    }

    #[test]
    fn minus_one_means_no_codes_and_negative_numbers_the_default() {
        let mut d = Diagnostics::default();
        assert_eq!(error_codes("-1", &loc(), &mut d), Some(vec![-1]));
        let ms = |t: &str, d: &mut Diagnostics| or_default(t, |t| millis(t, &loc(), "i", d));
        assert_eq!(ms("-1", &mut d), Some(None));
        assert_eq!(ms("0", &mut d), Some(Some(Duration::ZERO)));
        assert_eq!(
            or_default("-1", |t| count(t, &loc(), "r", &mut d)),
            Some(None)
        );
        let f = |t: &str, d: &mut Diagnostics| or_default(t, |t| positive_float(t, &loc(), "f", d));
        assert_eq!(f("-1", &mut d), Some(None));
        assert_eq!(f("-0.5", &mut d), Some(None));
        assert!(d.is_empty());
        assert_eq!(ms("soon", &mut d), None);
        assert_eq!(d.error_count(), 1);
    }

    #[test]
    fn numbers_and_booleans() {
        let mut d = Diagnostics::default();
        assert_eq!(count("3", &loc(), "n", &mut d), Some(3));
        assert_eq!(count("-3", &loc(), "n", &mut d), None);
        assert_eq!(positive_float("2.5", &loc(), "f", &mut d), Some(2.5));
        assert_eq!(positive_float("0", &loc(), "f", &mut d), None);
        assert_eq!(boolean("TRUE", &loc(), "b", &mut d), Some(true));
        assert_eq!(boolean("yes", &loc(), "b", &mut d), None);
        assert_eq!(d.error_count(), 3);
    }
}
