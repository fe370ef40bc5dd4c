//! The command line: `axon serve` and `axon check`.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{Config, Severity};
use crate::engine::Limits;
use crate::server::{Server, ServerOptions};

/// Exit code for an invalid configuration (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;

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
    Serve(ServeArgs),
    /// Load and validate a mediation folder exactly as `serve` does, and print every problem.
    Check(CheckArgs),
}

/// `axon serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The mediation folder.
    #[arg(long, default_value = "mediation")]
    pub mediation: PathBuf,
    /// Port for traffic (HTTP).
    #[arg(long, default_value_t = 8290)]
    pub http_port: u16,
    /// Port for the management API.
    #[arg(long, default_value_t = 9164)]
    pub management_port: u16,
    /// Port for gRPC (HTTP/2: h2c, or h2 over TLS with --grpc-tls-cert/--grpc-tls-key).
    #[arg(long, default_value_t = 8295)]
    pub grpc_port: u16,
    /// Do not start the gRPC listener.
    #[arg(long)]
    pub no_grpc: bool,
    /// PEM certificate chain for gRPC over TLS (with --grpc-tls-key).
    #[arg(long, requires = "grpc_tls_key")]
    pub grpc_tls_cert: Option<PathBuf>,
    /// PEM private key for gRPC over TLS (with --grpc-tls-cert).
    #[arg(long, requires = "grpc_tls_cert")]
    pub grpc_tls_key: Option<PathBuf>,
    /// Address the traffic listener binds.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Address the management API binds.
    #[arg(long, default_value = "127.0.0.1")]
    pub management_bind: IpAddr,
    /// Worker threads for the HTTP front (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Deadline, in milliseconds, of an endpoint call whose endpoint sets no <timeout>.
    #[arg(long, default_value_t = 60_000)]
    pub global_timeout_ms: u64,
    /// Largest message body, in bytes, that mediation may read into memory.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most nodes (elements, attributes, text) in one XML document built from a message.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_nodes)]
    pub max_xml_nodes: usize,
    /// Most attributes on one element of a message's XML.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_attributes)]
    pub max_xml_attributes: usize,
    /// Estimated memory, in bytes, that one message's XML tree may take.
    #[arg(long, default_value_t = crate::message::XmlLimits::default().max_memory)]
    pub max_xml_memory: usize,
}

/// `axon check` options.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The mediation folder.
    #[arg(default_value = "mediation")]
    pub dir: PathBuf,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// Runs `axon check`: prints every problem, returns 0 when valid.
pub fn check(args: &CheckArgs) -> ExitCode {
    match Config::load(&args.dir) {
        Ok(config) => {
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

/// Runs `axon serve` until a signal stops it.
///
/// # Errors
/// When a port cannot be bound or the server fails to start.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match Config::load(&args.mediation) {
        Ok(config) => config,
        Err(diags) => {
            for d in diags.sorted() {
                eprintln!("{d}");
            }
            eprintln!(
                "axon: the configuration in {} is invalid; not starting",
                args.mediation.display()
            );
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let http = bind(args.bind, args.http_port)?;
    let management = bind(args.management_bind, args.management_port)?;
    let grpc = match args.no_grpc {
        true => None,
        false => Some(bind(args.bind, args.grpc_port)?),
    };
    let grpc_tls = match (&args.grpc_tls_cert, &args.grpc_tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key, &[b"h2"])?),
        _ => None,
    };
    let options = ServerOptions {
        mediation_dir: absolute(&args.mediation),
        http,
        management,
        grpc,
        grpc_tls,
        workers: args.workers,
        limits: Limits {
            max_body: args.max_body_bytes,
            global_timeout: Duration::from_millis(args.global_timeout_ms),
            xml: crate::message::XmlLimits {
                max_nodes: args.max_xml_nodes,
                max_attributes: args.max_xml_attributes,
                max_memory: args.max_xml_memory,
            },
        },
    };
    let system = actix_rt::System::new();
    system.block_on(async move {
        let server = Server::start(config, options).await?;
        server.run_until_signalled().await;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn bind(ip: IpAddr, port: u16) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).map_err(|error| anyhow::anyhow!("cannot listen on {addr}: {error}"))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
