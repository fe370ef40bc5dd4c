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
use crate::server::{Server, ServerOptions};

/// Exit code for an invalid configuration (EX_USAGE).
pub(crate) const EXIT_CONFIG: u8 = 64;

/// Axon: a message-mediation engine for Synapse-style configurations.
#[derive(Debug, Parser)]
#[command(name = "axon", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server on a mediation folder.
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
    /// Most nodes (elements, attributes, text) in one XML document built from a message.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_nodes)]
    pub(crate) max_xml_nodes: usize,
    /// Most attributes on one element of a message's XML.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_attributes)]
    pub(crate) max_xml_attributes: usize,
    /// Estimated memory, in bytes, that one message's XML tree may take.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_memory)]
    pub(crate) max_xml_memory: usize,
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
                "{}: ok: {} file(s), {} API(s), {} endpoint(s), {} sequence(s)",
                args.dir.display(),
                config.files,
                config.apis.len(),
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
    let options = ServerOptions {
        mediation_dir: absolute(&args.mediation),
        http,
        management,
        grpc,
        grpc_tls,
        workers: args.workers,
        limits: limits(&args),
        management_hosts: args.management_host.clone(),
    };
    let system = actix_rt::System::new();
    system.block_on(async move {
        let server = Server::start(mediation, options).await?;
        server.run_until_signalled().await;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
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
        drain_timeout: Duration::from_millis(args.drain_timeout_ms),
        allow_trace: args.allow_trace,
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
    tracing::info!(
        "{}: layout: {}",
        args.mediation.display(),
        mediation.config.layout
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

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    fn serve(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["axon", "serve"].iter().chain(args))
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
