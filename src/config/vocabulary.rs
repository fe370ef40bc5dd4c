//! What MI's own serializers write: the attributes every artifact and mediator may carry,
//! and the element names of the Synapse language, so that `axon check` can tell a typo
//! ("did you mean") from a value MI's tooling writes and Axon accepts.

use super::Attr;
use crate::base::diag::Diagnostics;

/// Attributes MI's tooling writes on artifacts and mediators alike.
pub(crate) const COMMON_ATTRS: [&str; 3] = ["description", "trace", "statistics"];

/// True for an attribute in [`COMMON_ATTRS`], accepted (with a warning to `diags` when it
/// asks for something Axon does not do); false for any other.
///
/// `description` is documentation. `trace` and `statistics` switch on MI's message tracing
/// and statistics publishing: `disable` (what the tooling writes) asks for nothing, while
/// `enable` has no effect, as Axon's tracing comes from its logs and admin API.
pub(crate) fn common_attr(a: &Attr, diags: &mut Diagnostics) -> bool {
    match a.name.as_str() {
        "description" => true,
        "trace" | "statistics" if a.value.trim() == "disable" => true,
        "trace" | "statistics" => {
            diags.no_effect(
                &a.loc,
                format!("attribute `{}=\"{}\"`", a.name, a.value.trim()),
                "tracing comes from Axon's logs (`AXON_LOG`) and admin API (see docs/configuration.md)",
            );
            true
        }
        _ => false,
    }
}

/// The element names of the Synapse configuration language (outside mediators, which the
/// mediators' parser names), as the schemas of WSO2's tooling list them: a child with one of
/// these names in the wrong place is "not allowed", any other gets a "did you mean".
pub(crate) const ELEMENTS: &[&str] = &[
    "address",
    "api",
    "arg",
    "args",
    "authMode",
    "authentication",
    "authorizationCode",
    "basicAuth",
    "case",
    "clientCredentials",
    "clientId",
    "clientSecret",
    "default",
    "definitions",
    "description",
    "disabledErrorCodes",
    "duration",
    "dynamicLoadbalance",
    "else",
    "enableAddressing",
    "enableRM",
    "enableSec",
    "enabledErrorCodes",
    "endpoint",
    "errorCodes",
    "failover",
    "failoverHttpStatusCodes",
    "faultSequence",
    "format",
    "handler",
    "handlers",
    "healthCheck",
    "http",
    "inSequence",
    "initialDuration",
    "loadbalance",
    "localEntry",
    "markForSuspension",
    "maximumDuration",
    "member",
    "membershipHandler",
    "oauth",
    "outSequence",
    "parameter",
    "password",
    "passwordCredentials",
    "policy",
    "progressionFactor",
    "property",
    "proxy",
    "publishWSDL",
    "recipientlist",
    "refreshToken",
    "registry",
    "requestParameters",
    "resource",
    "responseAction",
    "retriesBeforeSuspension",
    "retryConfig",
    "retryDelay",
    "sequence",
    "session",
    "sessionTimeout",
    "source",
    "suspendDurationOnFailure",
    "suspendOnFailure",
    "target",
    "template",
    "then",
    "timeout",
    "tokenUrl",
    "username",
    "with-param",
    "wsdl",
];

/// Mediators of WSO2's language (its tooling's schemas) that Axon has no row for in its
/// own registry, with how `axon check` names them: not supported, never "unknown".
const MI_MEDIATORS: &[(&str, &str)] = &[
    ("NTLM", "the `NTLM` mediator"),
    ("bam", "the `bam` mediator"),
    ("propertyGroup", "the `propertyGroup` mediator"),
    ("throwError", "the `throwError` mediator"),
];

/// How `axon check` names a mediator element of WSO2's language that Axon does not
/// implement and its registry does not list: the table above, and connector operations
/// (`<email.send>`, `<salesforce.query>`: a connector's name, a dot, an operation).
pub(crate) fn unsupported_mediator(name: &str) -> Option<String> {
    if let Some((_, what)) = MI_MEDIATORS.iter().find(|(n, _)| *n == name) {
        return Some((*what).to_owned());
    }
    let (connector, operation) = name.split_once('.')?;
    (!connector.is_empty() && !operation.is_empty())
        .then(|| format!("connector operation <{name}> (connectors)"))
}
