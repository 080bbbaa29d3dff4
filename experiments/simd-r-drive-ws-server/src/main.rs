//! The `simd-r-drive-ws-server` command: parse flags, start the server, announce readiness on
//! stdout, and stop cleanly on SIGINT or SIGTERM.

use clap::Parser;
use simd_r_drive_ws_server::owner::OwnerPipe;
use simd_r_drive_ws_server::{Access, Config, Limits, Options, RunningServer, Timeouts};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// WebSocket RPC server over a simd-r-drive storage file.
///
/// Readiness contract: once the listener is bound, the server prints exactly one line to
/// stdout, `listening on ws://HOST:PORT`, with the real bound port, and flushes it. Nothing
/// else is written to stdout; logs go to stderr, filtered by RUST_LOG (default: info).
/// SIGINT or SIGTERM stops accepting, closes the store cleanly and exits 0.
///
/// After a crash, a plain start cuts what follows the last acknowledged write (recorded in
/// STORAGE.acked) and refuses any other damage; --repair says what it would cut.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    /// Storage file; created if missing (its folder must exist).
    storage: PathBuf,
    /// Address to listen on: an IP address or a host name. One that is not loopback needs
    /// --allow-remote: the server has no authentication.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Listen on a --host that is not loopback, where anyone who can reach it can read,
    /// write and delete every key.
    #[arg(long)]
    allow_remote: bool,
    /// Let web pages of this origin connect (as the browser sends it, for example
    /// `http://localhost:8000`); repeat for more. Handshakes with any other Origin header
    /// are refused (403), so that no web page open in a browser can reach the store.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Port to listen on; 0 picks a free ephemeral port (read it from the readiness line).
    #[arg(long, default_value_t = 34129)]
    port: u16,
    /// Open a damaged storage file by cutting it back to its last valid entry, if the cut
    /// is only a torn tail (no whole entry, nothing acknowledged); it says what it cuts and
    /// keeps a copy beside the file (STORAGE.cut-OFFSET-TIME). A larger cut is refused.
    #[arg(long)]
    repair: bool,
    /// With --repair, also cut whole entries (acknowledged writes, or entries after a
    /// broken link); their keys go back to older values or disappear. A copy is kept.
    #[arg(long, requires = "repair")]
    repair_discard_entries: bool,
    /// Check every entry's checksum at startup, not only the newest one's, and refuse a
    /// file with a damaged entry (reads check their value in any case).
    #[arg(long)]
    verify: bool,
    /// Stop (as on SIGTERM) when this inherited file descriptor, the read end of a pipe
    /// whose write end the starting process keeps, reaches end of file: the server dies
    /// with its owner, even one killed with SIGKILL.
    #[arg(long, value_name = "FD")]
    owner_fd: Option<i32>,
    /// fsync the storage file before acknowledging each write, so that acknowledged writes
    /// survive a power cut, not only a crash (slower: see the README's "Durability").
    #[arg(long)]
    sync: bool,
    /// Connections open at once; one more is answered 503 and closed at once.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// MiB that the unfinished requests of all connections may hold together; a connection
    /// whose request would go over it is closed with 1013 (try again later).
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u32).range(66..))]
    request_budget: u32,
    /// Seconds a new connection has to finish the WebSocket handshake.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    handshake_timeout: Duration,
    /// Seconds of silence after which a connection is closed. The server pings every third
    /// of it, so a live client (whose WebSocket answers pings) is never idle.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    idle_timeout: Duration,
}

/// A positive number of seconds, such as `5` or `0.5`.
fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs <= 0.0 {
        return Err(format!("{text} must be more than 0 seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    ignore_file_size_signal();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(serve(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// A write past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the process. With
/// the signal ignored the write fails with EFBIG instead, as on a full disk, and the store
/// undoes it and answers with an error.
fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN, before any other thread exists.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    // Listen for signals before announcing readiness, so that a signal sent right after the
    // readiness line is never missed.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let owner = cli.owner_fd.map(OwnerPipe::adopt).transpose()?;
    let config = Config {
        storage: cli.storage,
        host: cli.host.clone(),
        port: cli.port,
        tcp_nodelay: true,
        repair: cli.repair,
    };
    let options = Options {
        sync: cli.sync,
        timeouts: Timeouts {
            handshake: cli.handshake_timeout,
            idle: cli.idle_timeout,
        },
        repair_discard_entries: cli.repair_discard_entries,
        verify: cli.verify,
        access: Access {
            remote: cli.allow_remote,
            origins: cli.allow_origin,
        },
        limits: Limits {
            connections: cli.max_connections as usize,
            request_budget: (cli.request_budget as usize) << 20,
        },
    };
    let mut server = RunningServer::start_with(config, options).await?;
    announce(&cli.host, server.local_addr())?;
    tracing::info!(addr = %server.local_addr(), pid = std::process::id(), "serving");
    tokio::select! {
        _ = sigterm.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = sigint.recv() => tracing::info!("SIGINT received, shutting down"),
        () = owner_gone(owner) => tracing::info!("the process that started the server is gone (--owner-fd closed), shutting down"),
        failed = server.wait_for_failure() => return failed,
    }
    server.shutdown().await?;
    tracing::info!("store closed, bye");
    Ok(())
}

/// Resolves when the owner's pipe closes; never without `--owner-fd`.
async fn owner_gone(owner: Option<OwnerPipe>) {
    match owner {
        Some(owner) => owner.closed().await,
        None => std::future::pending().await,
    }
}

/// Prints the readiness line, the only thing this program writes to stdout. A host name is
/// kept as given; an IP address is printed from the bound socket (IPv6 in brackets).
fn announce(host: &str, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if host.parse::<std::net::IpAddr>().is_ok() {
        writeln!(out, "listening on ws://{addr}")?;
    } else {
        writeln!(out, "listening on ws://{host}:{}", addr.port())?;
    }
    out.flush()?;
    Ok(())
}
