//! The command line: `axon serve` and `axon check`.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::base::allow_to::AllowTo;
use crate::base::limits::Limits;
use crate::config::Severity;
use crate::engine::Mediation;
use crate::server::{ManagementAccess, Server, ServerOptions};

/// Exit code for an invalid configuration (EX_USAGE).
pub(crate) const EXIT_CONFIG: u8 = 64;

/// What `axon --help` adds after the options: what a new operator asks first.
const AFTER_HELP: &str = "\
Logging: AXON_LOG sets what is logged (error, warn, info (default), debug, trace, or a
tracing filter such as `axon=debug`).

Reload: SIGHUP or `POST /config/reload` on the management API loads the mediation folder
again; a configuration with errors is refused and the running one kept.

Management API (default 127.0.0.1:9164): /health/live, /health/ready, /health/actors,
endpoint switches, API lifecycles, reload. Beyond loopback it needs a token
(--management-token-file); see docs/operations.md.

Exit status: 0 after a clean stop; 64 when the configuration or the command line is refused
(invalid mediation folder, denied warnings, a management bind without a token); 1 on any
other failure (such as a port that cannot be bound). `axon check` exits 1 on problems.";

/// Axon: a message-mediation engine for Synapse-style configurations.
#[derive(Debug, Parser)]
#[command(name = "axon", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server on a mediation folder.
    #[command(after_help = AFTER_HELP)]
    Serve(Box<ServeArgs>),
    /// Load and validate a mediation folder exactly as `serve` does, and print every problem.
    Check(CheckArgs),
}

/// `axon serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The mediation folder.
    #[arg(long, default_value = "mediation")]
    pub(crate) mediation: PathBuf,
    /// Port for traffic (HTTP).
    #[arg(long, default_value_t = 8290)]
    pub(crate) http_port: u16,
    /// Port for the management API.
    #[arg(long, default_value_t = 9164)]
    pub(crate) management_port: u16,
    /// Port for gRPC (HTTP/2: h2c, or h2 over TLS with --grpc-tls-cert/--grpc-tls-key).
    #[arg(long, default_value_t = 8295)]
    pub(crate) grpc_port: u16,
    /// Do not start the gRPC listener.
    #[arg(long)]
    pub(crate) no_grpc: bool,
    /// PEM certificate chain for gRPC over TLS (with --grpc-tls-key).
    #[arg(long, requires = "grpc_tls_key")]
    pub(crate) grpc_tls_cert: Option<PathBuf>,
    /// PEM private key for gRPC over TLS (with --grpc-tls-cert).
    #[arg(long, requires = "grpc_tls_cert")]
    pub(crate) grpc_tls_key: Option<PathBuf>,
    /// Address the traffic listener binds.
    #[arg(long, default_value = "0.0.0.0")]
    pub(crate) bind: IpAddr,
    /// Address the management API binds.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) management_bind: IpAddr,
    /// Worker threads for the HTTP front (default: one per core).
    #[arg(long)]
    pub(crate) workers: Option<usize>,
    /// Deadline, in milliseconds, of an endpoint call whose endpoint sets no <timeout>.
    #[arg(long, default_value_t = 60_000)]
    pub(crate) global_timeout_ms: u64,
    /// Longest wait, in milliseconds, for the next bytes of a backend's response body when
    /// the endpoint sets no <timeout> (an endpoint's <timeout> is used when set).
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) backend_read_timeout_ms: u64,
    /// Largest message body, in bytes, that mediation may read into memory.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub(crate) max_body_bytes: usize,
    /// Connections open at once on the gRPC port (default: derived from the open-file limit,
    /// keeping a reserve for the management API).
    #[arg(long, value_parser = at_least_one_usize())]
    pub(crate) grpc_max_connections: Option<usize>,
    /// Milliseconds a gRPC client has for its TLS handshake.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) grpc_handshake_timeout_ms: u64,
    /// Milliseconds a new gRPC connection has to send the HTTP/2 preface.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) grpc_preface_timeout_ms: u64,
    /// Seconds a gRPC connection with no open call stays open.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) grpc_idle_timeout_secs: u64,
    /// Concurrent calls per gRPC connection (advertised to the client).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) grpc_max_streams_per_connection: u32,
    /// Concurrent calls on the gRPC port in total (over it: RESOURCE_EXHAUSTED).
    #[arg(long, default_value_t = 10_000, value_parser = at_least_one_usize())]
    pub(crate) grpc_max_streams: usize,
    /// SETTINGS, PING and other control frames one gRPC connection may send per second.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) grpc_max_control_frames_per_sec: u32,
    /// Longest pause, in milliseconds, between bytes of a client's request body (408).
    #[arg(long, default_value_t = 30_000)]
    pub(crate) body_read_timeout_ms: u64,
    /// Longest wait, in milliseconds, for a client's complete request head (408).
    #[arg(long, default_value_t = 5_000)]
    pub(crate) header_read_timeout_ms: u64,
    /// How long, in milliseconds, an idle keep-alive client connection is kept open.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) keep_alive_ms: u64,
    /// Largest request head (request line and headers), in bytes (431 past it).
    #[arg(long, default_value_t = 32 * 1024)]
    pub(crate) max_header_bytes: usize,
    /// Most client connections the HTTP front holds open (over all workers); more wait in
    /// the listen backlog.
    #[arg(long, value_parser = at_least_one_usize())]
    pub(crate) max_connections: Option<usize>,
    /// Length of the listen backlogs (connections the kernel queues before Axon accepts
    /// them).
    #[arg(long, default_value_t = 4096)]
    pub(crate) listen_backlog: i32,
    /// Longest drain, in milliseconds, of in-flight exchanges on SIGTERM; those still
    /// running then are answered 503.
    #[arg(long, default_value_t = 30_000)]
    pub(crate) drain_timeout_ms: u64,
    /// Branches of one `clone` or `iterate` that run at once, per message (the others
    /// wait their turn).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) max_branches_in_flight: u64,
    /// Serve TRACE requests (refused with 405 by default: they echo cookies).
    #[arg(long)]
    pub(crate) allow_trace: bool,
    /// Refuse to start when the configuration has warnings (such as artifacts Axon does
    /// not run).
    #[arg(long)]
    pub(crate) deny_warnings: bool,
    /// Host names the management API answers to, besides its bind address and
    /// `localhost` (repeat the flag, or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub(crate) management_host: Vec<String>,
    /// An http or https URL prefix a bare `<send/>` may send to when the message's `To`
    /// address starts with it (same scheme, host and port; repeat the flag). Default: none.
    #[arg(long, value_parser = allow_to_entry)]
    pub(crate) allow_to: Vec<String>,
    /// HTTP/2 connections each worker may open to one gRPC backend.
    #[arg(long, default_value_t = 8)]
    pub(crate) grpc_backend_connections: usize,
    /// Concurrent calls per connection to a gRPC backend (its own limit applies if lower).
    #[arg(long, default_value_t = 100)]
    pub(crate) grpc_backend_streams: usize,
    /// Receive window, in bytes, of one gRPC backend call (16 KiB to 2 GiB).
    #[arg(long, default_value_t = 256 * 1024)]
    pub(crate) grpc_backend_stream_window: u32,
    /// HTTPS on the traffic side (see docs/tls.md).
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    /// Most nodes (elements, attributes, text) in one XML document built from a message.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_nodes)]
    pub(crate) max_xml_nodes: usize,
    /// Most attributes on one element of a message's XML.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_attributes)]
    pub(crate) max_xml_attributes: usize,
    /// Estimated memory, in bytes, that one message's XML tree may take.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_memory)]
    pub(crate) max_xml_memory: usize,
    #[command(flatten)]
    pub(crate) ops: OpsArgs,
    // Logging (the filter and the format come from AXON_LOG and AXON_LOG_FORMAT).
    /// The fields of the access-log line written per exchange at info level: `all`, `off`,
    /// or some of client,method,path,api,status,bytes,latency,endpoint,error_code,message_id.
    #[arg(long, default_value = "all", help_heading = "Logging")]
    pub(crate) access_log: crate::base::limits::AccessLog,
}

/// The options for running Axon in production: the management API's guard, graceful
/// shutdown, the trace header (docs/operations.md).
#[derive(Debug, clap::Args)]
pub struct OpsArgs {
    /// File holding the management API's write token (or AXON_MANAGEMENT_TOKEN): requests
    /// must then carry `Authorization: Bearer <token>`. Required when --management-bind is
    /// not a loopback address.
    #[arg(long)]
    pub(crate) management_token_file: Option<PathBuf>,
    /// File holding a read-only token for the management API (or
    /// AXON_MANAGEMENT_READ_TOKEN): it may GET /health/* and /metrics, never change anything.
    #[arg(long)]
    pub(crate) management_read_token_file: Option<PathBuf>,
    /// PEM certificate chain for TLS on the management port (with --management-tls-key).
    #[arg(long, requires = "management_tls_key")]
    pub(crate) management_tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the management port (with --management-tls-cert).
    #[arg(long, requires = "management_tls_cert")]
    pub(crate) management_tls_key: Option<PathBuf>,
    /// PEM CA bundle: the management port (with --management-tls-cert) then accepts only
    /// clients presenting a certificate it signed (mTLS), which also allows a bind beyond
    /// loopback without a token.
    #[arg(long, requires = "management_tls_cert")]
    pub(crate) management_client_ca: Option<PathBuf>,
    /// On SIGTERM, how long /health/ready answers 503 while new connections are still
    /// accepted, so that load balancers stop sending first (e.g. `5s`).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub(crate) shutdown_delay: Duration,
    /// After the listeners close, how long in-flight exchanges have to finish (e.g. `30s`);
    /// those still running are then answered 503 (gRPC: UNAVAILABLE). Replaces
    /// --drain-timeout-ms.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "drain_timeout_ms")]
    pub(crate) shutdown_grace: Option<Duration>,
    /// Who gets the X-Axon-Trace header (the endpoints tried): `loopback` clients only
    /// (default), `all`, or `off`.
    #[arg(long, value_enum, default_value_t = TraceTo::Loopback)]
    pub(crate) trace_header: TraceTo,
    /// A request header whose presence also turns X-Axon-Trace on for that request (e.g.
    /// `X-Debug-Trace`).
    #[arg(long)]
    pub(crate) trace_debug_header: Option<String>,
}

/// Who gets the `X-Axon-Trace` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceTo {
    /// Clients on a loopback address (and requests with --trace-debug-header).
    Loopback,
    /// Every client.
    All,
    /// Only requests with --trace-debug-header.
    Off,
}

/// TLS options of `axon serve` (docs/tls.md).
#[derive(Debug, clap::Args)]
pub struct TlsArgs {
    /// Port for HTTPS traffic (HTTP/1.1 and HTTP/2 by ALPN); the listener runs when a
    /// --tls-cert is given.
    #[arg(long, help_heading = "TLS", default_value_t = 8253)]
    pub(crate) https_port: u16,
    /// A PEM certificate chain and its PEM private key, `CERT,KEY`. Repeat it to serve
    /// several names: each client gets the first certificate whose DNS names (subject
    /// alternative names, `*.` wildcards too) match the name it asks for (SNI), else the
    /// first one. Read again on SIGHUP and `POST /config/reload`.
    #[arg(long, help_heading = "TLS", value_name = "CERT,KEY", value_parser = cert_files)]
    pub(crate) tls_cert: Vec<crate::base::tls::CertFiles>,
    /// PEM CA bundle that issues client certificates: the HTTPS listener asks clients for
    /// one (mTLS).
    #[arg(long, help_heading = "TLS", value_name = "FILE")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// With --tls-client-ca: `required` (a client without a valid certificate is refused
    /// in the handshake) or `optional` (a certificate, when sent, must be valid).
    #[arg(long, help_heading = "TLS", default_value = "required", value_parser = ["required", "optional"])]
    pub(crate) tls_client_auth: String,
    /// The oldest TLS version the HTTPS listener accepts: 1.2 or 1.3.
    #[arg(long, help_heading = "TLS", default_value = "1.2")]
    pub(crate) tls_min_version: crate::base::tls::MinVersion,
    /// PEM CA bundle trusted for HTTPS and gRPC-over-TLS backends, besides the public
    /// roots (an endpoint's own `caCertificate` replaces both).
    #[arg(long, help_heading = "TLS", value_name = "FILE")]
    pub(crate) backend_ca: Option<PathBuf>,
    /// Trust only --backend-ca for backends, not the public roots.
    #[arg(long, help_heading = "TLS", requires = "backend_ca")]
    pub(crate) backend_ca_only: bool,
    /// A PEM certificate chain and key, `CERT,KEY`, shown to TLS backends that ask for a
    /// client certificate (mTLS).
    #[arg(long, help_heading = "TLS", value_name = "CERT,KEY", value_parser = cert_files)]
    pub(crate) backend_cert: Option<crate::base::tls::CertFiles>,
}

/// How backends are trusted (`--backend-ca`, `--backend-cert`), for every generation of
/// the server; the public roots when neither is given.
fn backend_tls(args: &ServeArgs) -> anyhow::Result<std::sync::Arc<crate::base::tls::BackendTls>> {
    let tls = &args.tls;
    let loaded = crate::base::tls::BackendTls::load(
        tls.backend_ca.as_deref(),
        tls.backend_ca_only,
        tls.backend_cert.as_ref(),
    )?;
    Ok(std::sync::Arc::new(loaded))
}

/// One `--tls-cert CERT,KEY`.
fn cert_files(value: &str) -> Result<crate::base::tls::CertFiles, String> {
    match value.split_once(',') {
        Some((cert, key)) if !cert.is_empty() && !key.is_empty() => {
            Ok(crate::base::tls::CertFiles {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
            })
        }
        _ => Err("expected CERT,KEY (two PEM files)".to_owned()),
    }
}

/// The HTTPS listener, bound, and what it serves (`None` without --tls-cert).
fn https(args: &ServeArgs) -> anyhow::Result<Option<(TcpListener, crate::base::tls::ServerTls)>> {
    use crate::base::tls::{ClientAuth, ServerTls};
    let tls = &args.tls;
    if tls.tls_cert.is_empty() {
        if tls.tls_client_ca.is_some() {
            anyhow::bail!("--tls-client-ca needs --tls-cert");
        }
        return Ok(None);
    }
    let client_auth = match (&tls.tls_client_ca, tls.tls_client_auth.as_str()) {
        (None, _) => ClientAuth::None,
        (Some(ca), "optional") => ClientAuth::Optional(ca.clone()),
        (Some(ca), _) => ClientAuth::Required(ca.clone()),
    };
    let config = ServerTls {
        certs: tls.tls_cert.clone(),
        client_auth,
        min_version: tls.tls_min_version,
    };
    // Read once now, so that a bad file stops `serve` before anything listens.
    config.config()?;
    let listener = bind(args.bind, tls.https_port, args.listen_backlog)?;
    Ok(Some((listener, config)))
}

/// `axon check` options.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The mediation folder.
    #[arg(default_value = "mediation")]
    pub(crate) dir: PathBuf,
    /// Treat warnings as errors.
    #[arg(long)]
    pub(crate) deny_warnings: bool,
    /// Print what the project uses that Axon honours, ignores and refuses.
    #[arg(long)]
    pub(crate) report: bool,
}

/// Runs `axon check`: prints every problem, returns 0 when valid.
pub fn check(args: &CheckArgs) -> ExitCode {
    eprintln!("{}: {}", args.dir.display(), detect(&args.dir));
    let loaded = Mediation::load(&args.dir);
    if args.report {
        print_report(&loaded);
    }
    match loaded {
        Ok(Mediation { config, .. }) => {
            for w in &config.warnings {
                eprintln!("{w}");
            }
            if args.deny_warnings && !config.warnings.is_empty() {
                eprintln!("{} warning(s), denied", config.warnings.len());
                return ExitCode::from(1);
            }
            println!(
                "{}: ok: {} file(s), {} API(s), {} proxy service(s), {} endpoint(s), {} sequence(s)",
                args.dir.display(),
                config.files,
                config.apis.len(),
                config.proxies.len(),
                config.endpoints().count(),
                config.sequences().filter(|(_, s)| s.named).count()
            );
            ExitCode::SUCCESS
        }
        Err(diags) => {
            for d in diags.sorted() {
                eprintln!("{d}");
            }
            let errors = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            eprintln!("{errors} error(s) in {}", args.dir.display());
            ExitCode::from(1)
        }
    }
}

/// The layout of the project at `path`, as `check` and `serve` print it first.
fn detect(path: &Path) -> String {
    format!("layout: {}", crate::config::project::detect(path))
}

/// `axon check --report`: what the project uses, in three parts.
fn print_report(loaded: &Result<Mediation, crate::config::Diagnostics>) {
    let (warnings, errors): (Vec<_>, Vec<_>) = match loaded {
        Ok(m) => (m.config.warnings.iter().collect(), Vec::new()),
        Err(diags) => diags
            .sorted()
            .into_iter()
            .partition(|d| d.severity == Severity::Warning),
    };
    println!("== honoured by Axon");
    if let Ok(Mediation { config, .. }) = loaded {
        println!(
            "{} API(s), {} proxy service(s)",
            config.apis.len(),
            config.proxies.len()
        );
        let named = config.sequences().filter(|(_, s)| s.named).count();
        let endpoints = config.endpoints().filter(|(_, ep)| ep.named).count();
        println!("{named} sequence(s), {endpoints} named endpoint(s)");
        println!(
            "{} template(s), {} key(s)",
            config.templates.len(),
            config.keys.len()
        );
    } else {
        println!("(the project does not load: see the refusals)");
    }
    println!("== accepted with no effect, or not loaded");
    warnings.iter().for_each(|d| println!("{d}"));
    println!("== refused");
    errors.iter().for_each(|d| println!("{d}"));
}

/// Runs `axon serve` until a signal stops it.
///
/// # Errors
/// When a port cannot be bound or the server fails to start.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let Some(mediation) = load_or_report(&args.mediation) else {
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    if warnings_denied(&args, &mediation) {
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let management_access = match management_access(&args.ops, args.management_bind) {
        Ok(access) => access,
        Err(why) => {
            eprintln!("axon: {why}; not starting");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let backlog = args.listen_backlog;
    let http = bind(args.bind, args.http_port, backlog)?;
    let management = bind(args.management_bind, args.management_port, backlog)?;
    let grpc = match args.no_grpc {
        true => None,
        false => Some(bind(args.bind, args.grpc_port, backlog)?),
    };
    let grpc_tls = match (&args.grpc_tls_cert, &args.grpc_tls_key) {
        (Some(cert), Some(key)) => Some(crate::base::tls::server_config(cert, key, &[b"h2"])?),
        _ => None,
    };
    let https = https(&args)?;
    let options = ServerOptions {
        // Reloads read the folder by the very spelling the start-up load used: an
        // endpoint's definition can hold paths built from it (a WSDL read from the
        // folder), and a different spelling would make it look changed and restart it.
        mediation_dir: args.mediation.clone(),
        http,
        management,
        grpc,
        grpc_tls,
        https,
        workers: args.workers,
        limits: Limits {
            backend_tls: backend_tls(&args)?,
            ..limits(&args)
        },
        management_hosts: args.management_host.clone(),
        management_access,
    };
    let shutdown_delay = args.ops.shutdown_delay;
    let system = actix_rt::System::new();
    system.block_on(async move {
        let server = Server::start(mediation, options).await?;
        server.run_until_signalled(shutdown_delay).await;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The management API's tokens and TLS; refuses a bind beyond loopback without a token.
fn management_access(ops: &OpsArgs, bind: IpAddr) -> Result<ManagementAccess, String> {
    let write_token = token(
        ops.management_token_file.as_deref(),
        "AXON_MANAGEMENT_TOKEN",
    )?;
    let read_token = token(
        ops.management_read_token_file.as_deref(),
        "AXON_MANAGEMENT_READ_TOKEN",
    )?;
    let guarded = write_token.is_some() || read_token.is_some();
    if !bind.is_loopback() && !guarded && ops.management_client_ca.is_none() {
        return Err(format!(
            "the management API would listen on {bind}, beyond loopback, with no token: give it one with --management-token-file or AXON_MANAGEMENT_TOKEN, or require client certificates with --management-client-ca (docs/operations.md)"
        ));
    }
    let tls = match (&ops.management_tls_cert, &ops.management_tls_key) {
        (Some(cert), Some(key)) => Some(crate::base::tls::ServerTls {
            certs: vec![crate::base::tls::CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            }],
            client_auth: match &ops.management_client_ca {
                Some(ca) => crate::base::tls::ClientAuth::Required(ca.clone()),
                None => crate::base::tls::ClientAuth::None,
            },
            min_version: crate::base::tls::MinVersion::default(),
        }),
        _ => None,
    };
    let access = ManagementAccess {
        read_token,
        write_token,
        tls,
    };
    // The tokens' own rules (length, read differs from write) and the TLS files, checked
    // before binding.
    access.access(&[])?;
    Ok(access)
}

/// A token from `file` (its content without the final line break), else from the
/// environment variable `var`.
fn token(file: Option<&Path>, var: &str) -> Result<Option<String>, String> {
    let token = match file {
        Some(file) => std::fs::read_to_string(file)
            .map_err(|error| format!("cannot read the token file {}: {error}", file.display()))?,
        None => match std::env::var(var) {
            Ok(token) => token,
            Err(_) => return Ok(None),
        },
    };
    Ok(Some(token.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The configuration in `dir`, or `None` after printing why it is invalid.
fn load_or_report(dir: &Path) -> Option<Mediation> {
    match Mediation::load(dir) {
        Ok(mediation) => Some(mediation),
        Err(diags) => {
            for d in diags.sorted() {
                eprintln!("{d}");
            }
            eprintln!(
                "axon: the configuration in {} is invalid; not starting",
                dir.display()
            );
            None
        }
    }
}

/// The limits `axon serve` was given.
fn limits(args: &ServeArgs) -> Limits {
    Limits {
        max_body: args.max_body_bytes,
        global_timeout: Duration::from_millis(args.global_timeout_ms),
        grpc_max_connections: args.grpc_max_connections,
        grpc_handshake_timeout: Duration::from_millis(args.grpc_handshake_timeout_ms),
        grpc_preface_timeout: Duration::from_millis(args.grpc_preface_timeout_ms),
        grpc_idle_timeout: Duration::from_secs(args.grpc_idle_timeout_secs),
        grpc_max_streams_per_connection: args.grpc_max_streams_per_connection,
        grpc_max_streams: args.grpc_max_streams,
        grpc_max_control_frames_per_sec: args.grpc_max_control_frames_per_sec,
        body_read_timeout: Duration::from_millis(args.body_read_timeout_ms),
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        keep_alive: Duration::from_millis(args.keep_alive_ms),
        max_header_bytes: args.max_header_bytes,
        max_connections: args.max_connections,
        drain_timeout: args
            .ops
            .shutdown_grace
            .unwrap_or(Duration::from_millis(args.drain_timeout_ms)),
        allow_trace: args.allow_trace,
        access_log: args.access_log,
        backend_read_timeout: Duration::from_millis(args.backend_read_timeout_ms),
        grpc_backend_connections: args.grpc_backend_connections,
        grpc_backend_streams: args.grpc_backend_streams,
        grpc_backend_stream_window: args.grpc_backend_stream_window,
        xml: crate::message::XmlLimits {
            max_nodes: args.max_xml_nodes,
            max_attributes: args.max_xml_attributes,
            max_memory: args.max_xml_memory,
        },
        allow_to: allow_to(args),
        backend_tls: std::sync::Arc::default(),
        trace: trace_policy(&args.ops),
        max_branches: usize::try_from(args.max_branches_in_flight).unwrap_or(64),
    }
}

/// Who gets `X-Axon-Trace`, from `--trace-header` and `--trace-debug-header`.
fn trace_policy(ops: &OpsArgs) -> crate::base::limits::TracePolicy {
    let debug_header = ops
        .trace_debug_header
        .as_deref()
        .map(|name| name.trim().to_ascii_lowercase().into());
    crate::base::limits::TracePolicy {
        all: ops.trace_header == TraceTo::All,
        loopback: ops.trace_header == TraceTo::Loopback,
        debug_header,
    }
}

/// One `--allow-to` entry, checked when the arguments are parsed.
fn allow_to_entry(entry: &str) -> Result<String, String> {
    AllowTo::new(&[entry]).map_err(|error| error.to_string())?;
    Ok(entry.to_owned())
}

/// The `--allow-to` list; the entries were checked when the arguments were parsed.
fn allow_to(args: &ServeArgs) -> std::sync::Arc<AllowTo> {
    std::sync::Arc::new(AllowTo::new(&args.allow_to).unwrap_or_default())
}

/// Logs the layout and the warnings of what `serve` loaded; true when `--deny-warnings`
/// refuses them.
fn warnings_denied(args: &ServeArgs, mediation: &Mediation) -> bool {
    let config = &mediation.config;
    tracing::info!(
        folder = %args.mediation.display(),
        layout = %config.layout,
        apis = config.apis.len(),
        proxies = config.proxies.len(),
        endpoints = config.endpoints().filter(|(_, ep)| ep.named).count(),
        sequences = config.sequences().filter(|(_, s)| s.named).count(),
        warnings = config.warnings.len(),
        "Configuration loaded"
    );
    let warnings = &mediation.config.warnings;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let denied = args.deny_warnings && !warnings.is_empty();
    if denied {
        eprintln!(
            "axon: {} warning(s) in {}, denied; not starting",
            warnings.len(),
            args.mediation.display()
        );
    }
    denied
}

/// Binds a listener with a production backlog: the standard library's 128 drops SYNs in
/// connection bursts (the kernel caps it further at `net.core.somaxconn`).
fn bind(ip: IpAddr, port: u16, backlog: i32) -> anyhow::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let addr = SocketAddr::new(ip, port);
    let listen = || -> std::io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        // As the standard library does: a restart may rebind while old connections linger.
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        Ok(socket.into())
    };
    listen().map_err(|error| anyhow::anyhow!("cannot listen on {addr}: {error}"))
}

/// A count that must be at least 1.
fn at_least_one_usize() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    fn serve(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["axon", "serve"].iter().chain(args))
    }

    #[test]
    fn the_operations_flags_parse_and_shutdown_grace_replaces_the_drain_timeout() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
        let cli = serve(&["--shutdown-delay", "5s", "--shutdown-grace", "1500ms"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.ops.shutdown_delay, std::time::Duration::from_secs(5));
        let limits = super::limits(&args);
        assert_eq!(limits.drain_timeout, std::time::Duration::from_millis(1500));
        assert!(serve(&["--shutdown-grace", "1s", "--drain-timeout-ms", "5"]).is_err());
        assert!(
            serve(&["--management-client-ca", "ca.pem"]).is_err(),
            "needs TLS"
        );
        let trace = serve(&["--trace-header", "off", "--trace-debug-header", "X-Debug"]).unwrap();
        let Command::Serve(args) = trace.command else {
            panic!("not serve")
        };
        let policy = super::trace_policy(&args.ops);
        assert!(!policy.loopback && !policy.all);
        assert_eq!(policy.debug_header.as_deref(), Some("x-debug"));
    }

    #[test]
    fn allow_to_is_repeatable_and_refuses_what_is_no_http_url() {
        let cli = serve(&["--allow-to", "http://a:1/x/", "--allow-to", "https://b/"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.allow_to, ["http://a:1/x/", "https://b/"]);
        assert!(super::allow_to(&args).permits("https://b:443/y"));
        assert!(serve(&["--allow-to", "a:1"]).is_err());
        assert!(serve(&["--allow-to", "file:///etc/"]).is_err());
    }
}
