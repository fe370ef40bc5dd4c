//! Why an expression does not compile (the text of its load diagnostic) or fails while it
//! is evaluated. Positions and names are fields; the wording is the one `axon check` shows.

/// Why an expression does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Nothing to evaluate.
    #[error("the XPath is empty")]
    Empty,
    /// Text that starts as a `${...}` Synapse expression but does not end with `}`.
    #[error("a Synapse expression `${{...}}` must end with `}}`")]
    SynapseExpression,
    /// A `${...}` MI 4.4 Synapse expression that does not compile.
    #[error(transparent)]
    Synapse(#[from] super::synexpr::SynError),
    /// A string literal with no closing quote, opened at byte `at`.
    #[error("unterminated string literal at offset {at}")]
    UnterminatedLiteral {
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A `$` not followed by a name, at byte `at`.
    #[error("`$` without a variable name at offset {at}")]
    NoVariableName {
        /// Byte offset of the `$`.
        at: usize,
    },
    /// A character that cannot start a token.
    #[error("unexpected character `{found}` at offset {at}")]
    UnexpectedCharacter {
        /// The character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
    /// An unprefixed variable other than `$body` and `$header`.
    #[error(
        "unknown variable `${0}` (Synapse variables are $body, $header and $ctx:, $axis2:, $trp:, $func:, $url:, $env: names)"
    )]
    UnknownVariable(String),
    /// A `$prefix:name` variable with an unknown prefix.
    #[error(
        "unknown variable `${prefix}:{name}` (expected a prefix ctx, axis2, trp, func, url, operation or env)"
    )]
    UnknownVariablePrefix {
        /// The prefix.
        prefix: String,
        /// The name after it.
        name: String,
    },
    /// A name test whose prefix no enclosing element declares.
    #[error(
        "namespace prefix `{0}` is not declared (declare it with xmlns:{0}=\"...\" on this element or an ancestor)"
    )]
    UndeclaredPrefix(String),
    /// A prefixed function call.
    #[error(
        "function `{prefix}:{local}` is not available: Axon evaluates XPath 1.0 with Synapse's functions"
    )]
    ForeignFunction {
        /// The prefix.
        prefix: String,
        /// The function's local name.
        local: String,
    },
    /// An XPath 2.0 function (`fn:` namespace) Axon does not provide.
    #[error(
        "XPath 2.0 function `fn:{0}()` is not supported by Axon (supported: the XPath 1.0 functions and fn:upper-case, lower-case, matches, replace, tokenize, string-join, distinct-values, ends-with, current-dateTime, current-date, format-dateTime, abs, avg, max, min, exists, empty)"
    )]
    UnsupportedXPath2(String),
    /// `tokenize()` or `distinct-values()` where its sequence is not consumed at once.
    #[error(
        "`fn:{0}()` returns a sequence of strings, which Axon supports only as the first argument of string-join(), count(), exists(), empty() or distinct-values(), or with a position predicate such as `[1]` or `[last()]`"
    )]
    SequenceOutsideConsumer(String),
    /// A regular expression given as a literal that does not compile.
    #[error("invalid regular expression in `{function}()`: {reason}")]
    Regex {
        /// The function.
        function: String,
        /// Why.
        reason: String,
    },
    /// A function neither XPath 1.0 nor Synapse has.
    #[error(
        "unknown function `{0}()` (XPath 1.0 functions and Synapse's get-property, base64Encode, base64Decode, url-encode are available)"
    )]
    UnknownFunction(String),
    /// A call with the wrong number of arguments.
    #[error("`{function}()` takes {expected} argument(s), found {found}")]
    Arity {
        /// The function.
        function: String,
        /// How many it takes, in words ("1", "at least 2", "1 to 3").
        expected: String,
        /// How many it was given.
        found: usize,
    },
    /// `get-property` not followed by `(`.
    #[error("get-property must be called with arguments")]
    GetPropertyNoArguments,
    /// `get-property()`.
    #[error("get-property() needs the name of a property")]
    GetPropertyNoName,
    /// A `get-property()` argument that is not a quoted literal (its first characters).
    #[error("get-property() takes quoted literal arguments in Axon (found `{0}`)")]
    GetPropertyComputed(String),
    /// A `get-property(` with no closing parenthesis.
    #[error("get-property(...) is not closed")]
    GetPropertyNotClosed,
    /// A `get-property()` with more than two arguments.
    #[error("get-property() takes one or two arguments, found {0}")]
    GetPropertyArity(usize),
    /// A `get-property()` scope Synapse has and Axon does not.
    #[error("get-property() scope `{0}` is not supported by Axon")]
    UnsupportedScope(String),
    /// A `get-property()` scope nobody has.
    #[error(
        "unknown get-property() scope `{0}` (expected default, axis2, axis2-client, transport, func, operation or env)"
    )]
    UnknownScope(String),
    /// The XPath evaluator rejects the syntax (its reason, in words).
    #[error("invalid XPath: {0}")]
    XPathSyntax(String),
    /// A JSONPath that does not start at the root.
    #[error("a JSONPath starts with `$`, found `{0}`")]
    JsonPathNotRooted(String),
    /// A JSONPath the parser rejects.
    #[error("invalid JSONPath `{path}`: {reason}")]
    JsonPathSyntax {
        /// The path.
        path: String,
        /// The parser's reason.
        reason: String,
    },
}

/// Why an XPath failed while it was evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XPathError {
    /// The evaluator reported an error.
    #[error("XPath `{xpath}` failed: {reason}")]
    Failed {
        /// The XPath as the evaluator sees it.
        xpath: String,
        /// The evaluator's reason.
        reason: String,
    },
    /// The evaluator panicked (it has internal `expect`s); the panic was caught.
    #[error("XPath `{0}` failed inside the evaluator")]
    Panicked(String),
    /// The compiled XPath was not in the thread's cache after it was put there.
    #[error("XPath cache lost an entry")]
    CacheLost,
    /// The XPath no longer compiles (it did at load).
    #[error(transparent)]
    Compile(#[from] CompileError),
}

/// Why one of Synapse's string functions (`base64Decode`) failed on its argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FunctionError {
    /// The argument is not base64.
    #[error("invalid base64: {0}")]
    Base64(#[source] base64::DecodeError),
    /// The decoded bytes are not UTF-8 text.
    #[error("decoded base64 is not UTF-8 text")]
    NotUtf8,
}
