//! Configuration: from the `mediation/` folder to a validated, typed [`Config`].
//!
//! Loading runs in stages, and each stage reports every problem it finds before the
//! load fails (see `docs/ARCHITECTURE.md`):
//!
//! 1. [`project`] detects the layout of the path (a folder, an MI project, a `.car`, ...)
//!    and reads its artifact files and registry resources; [`loader`] parses each file
//!    into a positioned tree (`base/xml.rs`); a file's root is one artifact or a
//!    `<definitions>` holding many. [`keys`] turns local entries and registry resources
//!    into other names of artifacts, or resources.
//! 2. The names of all artifacts are collected first, so that every `key` reference can
//!    be resolved (or reported as dangling) while the artifacts are parsed.
//! 3. [`api`], [`endpoint`] and [`sequence`] turn elements into typed configuration.
//!    Each mediator element goes to the `StepParser` the caller hands in (the engine's
//!    load hands in the mediators' own); configuration keeps only the plain
//!    [`StepConfig`] of each (its references, whether it handles responses, its body use).
//! 4. [`graph`] rejects reference cycles; `reach` and `grpc` check what sequences
//!    reach.
//!
//! The result is plain data and holds no running parts: config imports nothing above the
//! ground floor (`tests/layers.rs`). The engine's `Mediation::load` pairs it with the built
//! mediators, and `Runtime::build` turns both into a live generation.

mod api;
mod endpoint;
mod endpoint_template;
mod graph;
mod group;
mod grpc;
mod health_check;
mod keys;
mod loader;
mod openapi;
pub mod project;
mod prototype;
mod proxy;
mod reach;
pub(crate) mod values;
pub(crate) mod vocabulary;
pub(crate) mod wsdl;

mod sequence;
mod template;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::base::diag::did_you_mean;
pub(crate) use crate::base::diag::{Diagnostic, Diagnostics, Loc, Severity};
pub(crate) use crate::base::xml::{Attr, Element};
pub(crate) use api::{ApiConfig, Mapping, Protocol, ResourceConfig};
pub(crate) use endpoint::AddressSpec;
pub(crate) use endpoint::AddressingVersion;
pub(crate) use endpoint::LeafTls;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use endpoint::http_template;
pub(crate) use endpoint::parse_inline as endpoint_inline;
pub(crate) use endpoint::{
    EndpointConfig, EndpointFormat, EndpointProperty, HttpSpec, LeafSpec, PropertyScope,
    ResponseAction, WsdlSpec,
};
pub use endpoint::{EndpointKind, Target};
pub(crate) use group::{Algorithm, GroupSpec, SessionKind, SessionSpec, Strategy, WEIGHT_PROPERTY};
pub(crate) use grpc::GrpcSpec;
pub(crate) use health_check::{HealthCheckSpec, ProbeTarget};
use keys::Keys;
pub(crate) use keys::Resource;
#[cfg(test)]
pub(crate) use openapi::MediaExamples;
pub(crate) use openapi::{MockedResponse, OpenApiMock, Operation};
pub(crate) use project::Layout;
pub use prototype::PrototypeSpec;
pub(crate) use prototype::{Escape, FaultAction, FaultRule, FaultWhen, MockBody, Part, Template};
#[cfg(test)]
pub(crate) use prototype::{MockResponse, PathPattern};
pub(crate) use proxy::{ProxyConfig, route as proxy_route};
pub(crate) use sequence::{Reference, SequenceConfig, StepConfig};
pub(crate) use sequence::{StepParser, each_mediator};
pub(crate) use template::TemplateConfig;

/// Index of a sequence (named or inline) in [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqId(pub(crate) u32);

/// Index of an API in [`Config::apis`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiId(pub(crate) u32);

/// Index of an endpoint (named or inline) in [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub(crate) u32);

/// A validated configuration: every reference resolved, no cycles.
#[derive(Debug)]
pub struct Config {
    /// The folder it was loaded from.
    #[allow(
        dead_code,
        reason = "configuration as loaded and checked; no runtime step reads it yet"
    )]
    pub(crate) dir: PathBuf,
    /// Keys (local entries, registry resources) that name artifacts, and the resources
    /// the others hold.
    pub(crate) keys: Keys,
    /// The kind of project found there.
    pub(crate) layout: Layout,
    /// REST APIs, in load order.
    pub(crate) apis: Vec<ApiConfig>,
    /// Proxy services, in load order.
    pub(crate) proxies: Vec<ProxyConfig>,
    pub(crate) sequences: Vec<SequenceConfig>,
    pub(crate) endpoints: Vec<EndpointConfig>,
    pub(crate) sequence_names: HashMap<String, SeqId>,
    pub(crate) endpoint_names: HashMap<String, EndpointId>,
    /// Sequence templates, by name.
    #[allow(
        dead_code,
        reason = "configuration as loaded and checked; no runtime step reads it yet"
    )]
    pub(crate) templates: HashMap<String, Arc<TemplateConfig>>,
    /// Problems that do not stop the load.
    pub(crate) warnings: Vec<Diagnostic>,
    /// Number of XML files read.
    pub(crate) files: usize,
}

/// What the parsing stage carries: diagnostics, the name tables, and the growing lists
/// of sequences and endpoints (inline ones are appended as they are met).
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) diags: &'a mut Diagnostics,
    names: &'a Names,
    /// Local entries and registry resources, by key.
    pub(crate) keys: &'a Keys,
    sequences: Vec<Option<SequenceConfig>>,
    endpoints: Vec<Option<EndpointConfig>>,
    /// Sequence templates parsed so far (parsed before everything else).
    templates: HashMap<String, Arc<TemplateConfig>>,
    /// Name of the artifact being parsed, used to name inline sequences and endpoints.
    pub(crate) artifact: String,
    /// Where a named inline endpoint's name is local to: the artifact (`Api`, or
    /// `Api/resource` inside a resource); `None` inside a top-level endpoint, whose
    /// children keep their own names.
    pub(crate) scope: Option<String>,
    /// The mediation folder: files that artifacts name (WSDL and OpenAPI documents) are
    /// relative to it.
    pub(crate) dir: &'a Path,
    /// Builds the mediators (handed in by the layer that owns them; taken out while it
    /// parses one, so that it can use this context).
    steps: Option<&'a mut dyn StepParser>,
    /// The built-in `main`/`fault` sequences, added the first time a reference needs one.
    builtins: Vec<(&'static str, SeqId)>,
    /// Endpoint templates, by name (parsed with the sequence templates, before the rest).
    endpoint_templates: HashMap<String, Arc<endpoint_template::EndpointTemplate>>,
}

#[derive(Debug, Default)]
struct Names {
    sequences: HashMap<String, SeqId>,
    endpoints: HashMap<String, EndpointId>,
    templates: HashMap<String, Loc>,
}

/// Top-level artifact kinds that Synapse has and Axon does not implement yet.
const UNSUPPORTED_ARTIFACTS: &[(&str, &str)] = &[
    ("inboundEndpoint", "inbound endpoints (`<inboundEndpoint>`)"),
    ("messageStore", "message stores (`<messageStore>`)"),
    (
        "messageProcessor",
        "message processors (`<messageProcessor>`)",
    ),
    ("task", "scheduled tasks (`<task>`)"),
    ("taskManager", "task managers (`<taskManager>`)"),
    ("eventSource", "event sources (`<eventSource>`)"),
    ("executor", "priority executors (`<executor>`)"),
    (
        "priorityExecutor",
        "priority executors (`<priorityExecutor>`)",
    ),
    ("import", "connector imports (`<import>`)"),
    ("dataService", "data services (`<dataService>`)"),
];

/// The sequences every Synapse configuration has, whether or not the project defines them.
const BUILTIN_SEQUENCES: &[&str] = &["main", "fault"];

// === impl Config ===

impl Config {
    /// Loads and validates the project at `dir` (see [`project`]), building each
    /// mediator with `steps` (the engine's load hands in the mediators' parser).
    ///
    /// # Errors
    /// Every problem found, each with its file, line and column.
    pub(crate) fn load_with(dir: &Path, steps: &mut dyn StepParser) -> Result<Config, Diagnostics> {
        let mut diags = Diagnostics::default();
        let project = project::open(dir, &mut diags);
        let files = loader::parse_files(&project.files, &mut diags);
        let mut keys = Keys::default();
        let registry = keys::read_registry(&project.registry, &mut keys, &mut diags);
        let mut artifacts = loader::artifacts(&files, &mut diags);
        keys::collect(&mut artifacts, &registry, &mut keys, &mut diags);

        // Stage 2: names first, so references resolve regardless of file order.
        let names = collect_names(&artifacts, &mut diags);

        // Stage 3: parse every artifact.
        let mut ctx = Ctx::new(&mut diags, &names, &keys, &project.base, steps);
        parse_templates(&artifacts, &mut ctx);
        let (apis, proxies) = parse_artifacts(&artifacts, &mut ctx);
        check_api_contexts(&apis, ctx.diags);
        proxy::check_shadowing(&apis, &proxies, ctx.diags);

        let Ctx {
            sequences,
            endpoints,
            templates,
            ..
        } = ctx;
        // Stage 4: cycles, among whatever parsed, so they are reported with the rest.
        graph::check_cycles(&sequences, &endpoints, &mut diags);
        reach::check_prototypes(
            &apis,
            &proxies,
            &sequences,
            &endpoints,
            &names.sequences,
            &mut diags,
        );
        let Some((sequences, endpoints)) = complete(sequences, endpoints, dir, &mut diags) else {
            return Err(diags);
        };
        grpc::check(&apis, &sequences, &endpoints, &mut diags);
        if diags.has_errors() {
            return Err(diags);
        }
        let warnings = diags.take_warnings();
        Ok(Config {
            dir: dir.to_path_buf(),
            keys,
            layout: project.layout,
            apis,
            proxies,
            sequences,
            endpoints,
            sequence_names: names.sequences,
            endpoint_names: names.endpoints,
            templates,
            warnings,
            files: files.len(),
        })
    }

    /// The sequence with this id.
    pub(crate) fn sequence(&self, id: SeqId) -> &SequenceConfig {
        &self.sequences[id.0 as usize]
    }

    /// The endpoint with this id.
    pub fn endpoint(&self, id: EndpointId) -> &EndpointConfig {
        &self.endpoints[id.0 as usize]
    }

    /// Every endpoint, named and inline, in id order.
    pub(crate) fn endpoints(&self) -> impl Iterator<Item = (EndpointId, &EndpointConfig)> {
        self.endpoints
            .iter()
            .enumerate()
            .map(|(i, ep)| (EndpointId(i as u32), ep))
    }

    /// Every sequence, named and inline, in id order.
    pub(crate) fn sequences(&self) -> impl Iterator<Item = (SeqId, &SequenceConfig)> {
        self.sequences
            .iter()
            .enumerate()
            .map(|(i, s)| (SeqId(i as u32), s))
    }

    /// The named sequence `name`, or the one a local entry or registry key names.
    pub fn sequence_named(&self, name: &str) -> Option<SeqId> {
        let name = self.keys.artifact(name);
        self.sequence_names.get(name).copied()
    }

    /// The sequence template `name`.
    #[allow(
        dead_code,
        reason = "configuration as loaded and checked; no runtime step reads it yet"
    )]
    pub(crate) fn template_named(&self, name: &str) -> Option<&TemplateConfig> {
        self.templates.get(name).map(|t| t.as_ref())
    }

    /// The named endpoint `name`.
    pub fn endpoint_named(&self, name: &str) -> Option<EndpointId> {
        self.endpoint_names.get(name).copied()
    }

    /// The top-level endpoint `key` names: its name, or a local entry or registry key
    /// holding it (inline endpoints are not reachable by name).
    pub(crate) fn endpoint_for_key(&self, key: &str) -> Option<EndpointId> {
        self.endpoint_names.get(self.keys.artifact(key)).copied()
    }

    /// Follows `key` aliases to the endpoint that does the work.
    pub(crate) fn resolve_endpoint(&self, mut id: EndpointId) -> EndpointId {
        // Cycles were rejected at load, so this terminates; the bound is a guard.
        for _ in 0..=self.endpoints.len() {
            match &self.endpoint(id).kind {
                EndpointKind::Alias(target) => id = *target,
                _ => return id,
            }
        }
        id
    }
}

/// Two APIs may not serve the same context (and host/port).
fn check_api_contexts(apis: &[ApiConfig], diags: &mut Diagnostics) {
    let mut seen: HashMap<(String, Option<String>, Option<u16>), &ApiConfig> = HashMap::new();
    for api in apis {
        let key = (api.context.clone(), api.hostname.clone(), api.port);
        if let Some(first) = seen.get(&key) {
            diags.error(
                &api.loc,
                format!(
                    "API `{}` uses context `{}`, already used by API `{}` at {}",
                    api.name, api.context, first.name, first.loc
                ),
            );
        } else {
            seen.insert(key, api);
        }
    }
}

/// Collects the names of every sequence, endpoint and template, reporting duplicates.
fn collect_names(artifacts: &[&Element], diags: &mut Diagnostics) -> Names {
    let mut names = Names::default();
    let mut first_seen: HashMap<(&str, String), Loc> = HashMap::new();
    for el in artifacts {
        let kind = el.local_name();
        if !matches!(kind, "sequence" | "endpoint" | "api" | "proxy" | "template") {
            continue;
        }
        let Some(name) = el.attr_value("name").filter(|n| !n.trim().is_empty()) else {
            continue; // reported by the artifact's own parser
        };
        let key = (kind, name.to_owned());
        if let Some(first) = first_seen.get(&key) {
            diags.error(
                &el.loc,
                format!("duplicate {kind} name `{name}` (first defined at {first})"),
            );
            continue;
        }
        first_seen.insert(key, el.loc.clone());
        match kind {
            "sequence" => {
                let id = SeqId(names.sequences.len() as u32);
                names.sequences.insert(name.to_owned(), id);
            }
            "endpoint" => {
                let id = EndpointId(names.endpoints.len() as u32);
                names.endpoints.insert(name.to_owned(), id);
            }
            "template" => {
                names.templates.insert(name.to_owned(), el.loc.clone());
            }
            _ => {}
        }
    }
    names
}

/// Parses the templates first, so that every `call-template` can check its parameters.
fn parse_templates(artifacts: &[&Element], ctx: &mut Ctx<'_>) {
    for el in artifacts.iter().filter(|el| el.local_name() == "template") {
        let name = el.attr_value("name").unwrap_or_default().trim().to_owned();
        if ctx.templates.contains_key(&name)
            || ctx
                .names
                .templates
                .get(&name)
                .is_some_and(|first| *first != el.loc)
        {
            continue; // duplicate, already reported
        }
        ctx.artifact = name.clone();
        ctx.scope = Some(name.clone());
        if endpoint_template::is_endpoint_template(el) {
            if let Some(t) = endpoint_template::parse(el, ctx) {
                ctx.endpoint_templates.insert(name, Arc::new(t));
            }
        } else if let Some(t) = template::parse(el, ctx) {
            ctx.templates.insert(name, Arc::new(t));
        }
    }
}

/// Parses every API, proxy, sequence and endpoint; sequences and endpoints go to their
/// named slots in `ctx`.
fn parse_artifacts(
    artifacts: &[&Element],
    ctx: &mut Ctx<'_>,
) -> (Vec<ApiConfig>, Vec<ProxyConfig>) {
    let mut apis = Vec::new();
    let mut proxies = Vec::new();
    let mut parsed_names: HashMap<(&str, String), ()> = HashMap::new();
    for el in artifacts {
        let kind = el.local_name();
        let name = el.attr_value("name").unwrap_or_default().to_owned();
        if matches!(kind, "sequence" | "endpoint")
            && parsed_names.insert((kind, name.clone()), ()).is_some()
        {
            continue; // duplicate, already reported
        }
        ctx.artifact = name.clone();
        ctx.scope = (kind != "endpoint").then(|| name.clone());
        match kind {
            "api" => {
                if let Some(mut api) = api::parse(el, ctx) {
                    api.id = ApiId(apis.len() as u32);
                    apis.push(api);
                }
            }
            "proxy" => {
                if let Some(p) = proxy::parse(el, ctx) {
                    proxies.push(p);
                }
            }
            "sequence" => {
                if let Some(seq) = sequence::parse_named(el, ctx)
                    && let Some(&id) = ctx.names.sequences.get(&name)
                {
                    ctx.sequences[id.0 as usize] = Some(seq);
                }
            }
            "endpoint" => {
                if let Some(ep) = endpoint::parse_named(el, ctx)
                    && let Some(&id) = ctx.names.endpoints.get(&name)
                {
                    ctx.endpoints[id.0 as usize] = Some(ep);
                }
            }
            _ => {}
        }
    }
    (apis, proxies)
}

/// Every named sequence and endpoint, once each parsed; otherwise `None` (with an error
/// when none was reported, which a parser that failed always does).
fn complete(
    sequences: Vec<Option<SequenceConfig>>,
    endpoints: Vec<Option<EndpointConfig>>,
    dir: &Path,
    diags: &mut Diagnostics,
) -> Option<(Vec<SequenceConfig>, Vec<EndpointConfig>)> {
    let complete = sequences.iter().all(Option::is_some) && endpoints.iter().all(Option::is_some);
    if diags.has_errors() || !complete {
        if !diags.has_errors() {
            diags.error(
                &Loc::file_start(Arc::from(dir.display().to_string())),
                "configuration incomplete",
            );
        }
        return None;
    }
    Some((
        sequences.into_iter().flatten().collect(),
        endpoints.into_iter().flatten().collect(),
    ))
}

// === impl Ctx ===

impl<'a> Ctx<'a> {
    fn new(
        diags: &'a mut Diagnostics,
        names: &'a Names,
        keys: &'a Keys,
        dir: &'a Path,
        steps: &'a mut dyn StepParser,
    ) -> Ctx<'a> {
        Ctx {
            diags,
            names,
            keys,
            sequences: (0..names.sequences.len()).map(|_| None).collect(),
            endpoints: (0..names.endpoints.len()).map(|_| None).collect(),
            templates: HashMap::new(),
            artifact: String::new(),
            scope: None,
            dir,
            steps: Some(steps),
            builtins: Vec::new(),
            endpoint_templates: HashMap::new(),
        }
    }
}

impl Ctx<'_> {
    /// Parses mediator element `el` with the parser handed to the load.
    pub(crate) fn parse_step(&mut self, el: &Element) -> Option<StepConfig> {
        self.with_steps(|steps, ctx| steps.parse(el, ctx))
    }

    /// A step that runs sequence `target` (a proxy's in-sequence before its target).
    pub(crate) fn step_invoke(&mut self, target: SeqId) -> Option<StepConfig> {
        self.with_steps(|steps, _| Some(steps.invoke(target)))
    }

    /// A step that sends to `endpoint` (a proxy's target).
    pub(crate) fn step_send_to(&mut self, endpoint: EndpointId) -> Option<StepConfig> {
        self.with_steps(|steps, _| Some(steps.send_to(endpoint)))
    }

    fn with_steps<T>(
        &mut self,
        f: impl FnOnce(&mut dyn StepParser, &mut Ctx<'_>) -> Option<T>,
    ) -> Option<T> {
        let steps = self.steps.take()?;
        let out = f(&mut *steps, self);
        self.steps = Some(steps);
        out
    }

    /// Records an error.
    pub(crate) fn error(&mut self, loc: &Loc, message: impl Into<String>) {
        self.diags.error(loc, message);
    }

    /// Records that a Synapse feature is not supported.
    pub(crate) fn unsupported(&mut self, loc: &Loc, what: impl std::fmt::Display) {
        self.diags.unsupported(loc, what);
    }

    /// Reports every attribute of `el` that is not in `allowed`: the ones MI's tooling
    /// writes everywhere are accepted (see [`vocabulary::common_attr`]), any other is an
    /// error with a "did you mean" among the names `el` takes.
    pub(crate) fn check_attrs(&mut self, el: &Element, allowed: &[&str]) {
        for a in &el.attrs {
            if a.name == "xmlns"
                || a.name.starts_with("xmlns:")
                || allowed.contains(&a.name.as_str())
            {
                continue;
            }
            if vocabulary::common_attr(a, self.diags) {
                continue;
            }
            let known = allowed.iter().copied().chain(vocabulary::COMMON_ATTRS);
            self.diags.error(
                &a.loc,
                format!(
                    "unknown attribute `{}` on <{}>{}",
                    a.name,
                    el.local_name(),
                    did_you_mean(&a.name, known)
                ),
            );
        }
    }

    /// The attribute `name`, or an error when it is missing or empty.
    pub(crate) fn required_attr<'e>(&mut self, el: &'e Element, name: &str) -> Option<&'e Attr> {
        match el.attr(name) {
            Some(a) if !a.value.trim().is_empty() => Some(a),
            Some(a) => {
                self.diags.error(
                    &a.loc,
                    format!(
                        "attribute `{name}` of <{}> must not be empty",
                        el.local_name()
                    ),
                );
                None
            }
            None => {
                self.diags.error(
                    &el.loc,
                    format!("<{}> needs attribute `{name}`", el.local_name()),
                );
                None
            }
        }
    }

    /// Reports text content inside an element that takes only elements.
    pub(crate) fn no_text(&mut self, el: &Element) {
        if el.has_text() {
            self.diags.error(
                &el.loc,
                format!("<{}> does not take text content", el.local_name()),
            );
        }
    }

    /// Reports any child element or text of an element that takes none.
    pub(crate) fn no_children(&mut self, el: &Element) {
        self.no_text(el);
        self.no_elements(el);
    }

    /// Reports child elements of an element that holds only text.
    pub(crate) fn no_elements(&mut self, el: &Element) {
        for child in el.elements() {
            self.diags.error(
                &child.loc,
                format!(
                    "<{}> does not take child element <{}>",
                    el.local_name(),
                    child.local_name()
                ),
            );
        }
    }

    /// The children of `el` in the Synapse namespace (or none); each other child is
    /// reported and clears `ok`.
    pub(crate) fn synapse_children<'e>(
        &mut self,
        el: &'e Element,
        ok: &mut bool,
    ) -> Vec<&'e Element> {
        let mut children = Vec::new();
        for child in el.elements() {
            if child.is_synapse() {
                children.push(child);
            } else {
                self.unknown_child(el, child);
                *ok = false;
            }
        }
        children
    }

    /// Reports a child element that is neither known nor a known-but-unsupported one.
    pub(crate) fn unknown_child(&mut self, parent: &Element, child: &Element) {
        if !child.is_synapse() {
            self.diags.error(
                &child.loc,
                format!(
                    "element <{}> in namespace `{}` is not allowed in <{}>",
                    child.name,
                    child.ns.as_deref().unwrap_or(""),
                    parent.local_name()
                ),
            );
        } else if vocabulary::ELEMENTS.contains(&child.local_name()) {
            self.diags.error(
                &child.loc,
                format!(
                    "element <{}> is not allowed in <{}>",
                    child.local_name(),
                    parent.local_name()
                ),
            );
        } else {
            self.diags.error(
                &child.loc,
                format!(
                    "unknown element <{}> in <{}>{}",
                    child.local_name(),
                    parent.local_name(),
                    did_you_mean(child.local_name(), vocabulary::ELEMENTS.iter().copied())
                ),
            );
        }
    }

    /// Resolves a sequence `key`, reporting a dangling one.
    pub(crate) fn sequence_ref(&mut self, key: &str, loc: &Loc) -> Option<SeqId> {
        let found = self
            .names
            .sequences
            .get(self.keys.artifact(key))
            .copied()
            .or_else(|| self.builtin_sequence(key, loc));
        if found.is_none() {
            self.diags
                .error(loc, format!("sequence `{key}` is not defined"));
        }
        found
    }

    /// The built-in sequence `main` or `fault` (a project that defines its own never gets
    /// here): an empty sequence, which as a fault handler falls through to Axon's built-in
    /// fault handling and as a call runs nothing. It is not a named sequence, so the fronts
    /// still answer unmatched messages and failures as when nothing names it.
    fn builtin_sequence(&mut self, key: &str, loc: &Loc) -> Option<SeqId> {
        let name = BUILTIN_SEQUENCES.iter().find(|n| **n == key)?;
        if let Some((_, id)) = self.builtins.iter().find(|(n, _)| n == name) {
            return Some(*id);
        }
        let id = self.add_sequence(SequenceConfig {
            name: format!("{name} (built-in)"),
            named: false,
            on_error: None,
            mediators: Vec::new(),
            loc: loc.clone(),
        });
        self.builtins.push((name, id));
        Some(id)
    }

    /// Resolves a template `target`, reporting a dangling one (or one that failed to parse,
    /// which was reported already).
    pub(crate) fn template_ref(&mut self, name: &str, loc: &Loc) -> Option<Arc<TemplateConfig>> {
        let found = self.templates.get(self.keys.artifact(name)).cloned();
        if found.is_none() {
            let other = self
                .endpoint_templates
                .contains_key(self.keys.artifact(name));
            self.missing_template(name, loc, other, ("an endpoint", "a sequence", ""));
        }
        found
    }

    /// Resolves the endpoint template `name`, reporting a dangling one (or one that failed
    /// to parse, which was reported already).
    pub(crate) fn endpoint_template(
        &mut self,
        name: &str,
        loc: &Loc,
    ) -> Option<Arc<endpoint_template::EndpointTemplate>> {
        let found = self
            .endpoint_templates
            .get(self.keys.artifact(name))
            .cloned();
        if found.is_none() {
            let other = self.templates.contains_key(self.keys.artifact(name));
            self.missing_template(name, loc, other, ("a sequence", "an endpoint", "endpoint "));
        }
        found
    }

    /// Reports template `name` as the wrong kind (`other`: it is a template of the other
    /// kind) or not defined (unless it is defined and failed to parse, reported already).
    fn missing_template(
        &mut self,
        name: &str,
        loc: &Loc,
        other: bool,
        (is, wanted, prefix): (&str, &str, &str),
    ) {
        if other {
            self.diags.error(
                loc,
                format!("template `{name}` is {is} template, not {wanted} template"),
            );
        } else if !self.names.templates.contains_key(self.keys.artifact(name)) {
            self.diags
                .error(loc, format!("{prefix}template `{name}` is not defined"));
        }
    }

    /// Resolves an endpoint `key`, reporting a dangling one.
    pub(crate) fn endpoint_ref(&mut self, key: &str, loc: &Loc) -> Option<EndpointId> {
        let found = self.names.endpoints.get(self.keys.artifact(key)).copied();
        if found.is_none() {
            self.diags
                .error(loc, format!("endpoint `{key}` is not defined"));
        }
        found
    }

    /// Adds an inline (anonymous) sequence and returns its id.
    pub(crate) fn add_sequence(&mut self, seq: SequenceConfig) -> SeqId {
        self.sequences.push(Some(seq));
        SeqId(self.sequences.len() as u32 - 1)
    }

    /// Adds an inline (anonymous) endpoint and returns its id.
    pub(crate) fn add_endpoint(&mut self, ep: EndpointConfig) -> EndpointId {
        self.endpoints.push(Some(ep));
        EndpointId(self.endpoints.len() as u32 - 1)
    }

    /// The name of an inline endpoint written `name`: local to its artifact (and
    /// resource), so that two artifacts may use the same one.
    pub(crate) fn local_endpoint_name(&self, name: &str) -> String {
        match &self.scope {
            Some(scope) => format!("{scope}/{name}"),
            None => name.to_owned(),
        }
    }

    /// A name for an inline part of the current artifact, unique by position.
    pub(crate) fn inline_name(&self, what: &str, loc: &Loc) -> String {
        format!("{}.{}@{}:{}", self.artifact, what, loc.line, loc.col)
    }
}

/// The WS-* quality-of-service elements (of endpoints and proxies) Axon does not implement.
pub(crate) fn unsupported_ws(local: &str) -> Option<&'static str> {
    match local {
        "enableAddressing" => Some("WS-Addressing (`<enableAddressing>`)"),
        "enableSec" => Some("WS-Security (`<enableSec>`)"),
        "enableRM" => Some("WS-ReliableMessaging (`<enableRM>`)"),
        _ => None,
    }
}

/// Kinds of top-level artifact that are recognised but not implemented.
pub(crate) fn unsupported_artifact(kind: &str) -> Option<&'static str> {
    UNSUPPORTED_ARTIFACTS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, what)| *what)
}
