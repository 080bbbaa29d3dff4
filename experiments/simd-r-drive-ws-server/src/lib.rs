//! A WebSocket RPC server over the `simd-r-drive` storage engine.
//!
//! The binary (`main.rs`) is a thin CLI around [`RunningServer`]; the library exists so that
//! other crates' tests can run a real server in-process on an ephemeral port.

mod accept;
mod acked;
mod beside;
mod bitcode_lengths;
mod connection;
mod cutting;
mod decoded_size;
mod frame_check;
mod handlers;
mod listener;
pub mod owner;
mod repair;
mod reply;
mod requests;
mod shutdown;
mod startup;
mod store;
mod store_check;
mod store_lock;

use anyhow::Context;
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The largest value the server stores: 64 MiB. A larger one is refused with an error that
/// names the limit; clients check the same number before sending.
pub const MAX_VALUE_SIZE: usize = 64 * 1024 * 1024;

/// What a server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The storage file; created if missing, its folder must exist.
    pub storage: PathBuf,
    /// The address to bind, an IP address or a host name.
    pub host: String,
    /// The port to bind; 0 asks the OS for an ephemeral one.
    pub port: u16,
    /// Disable Nagle's algorithm on the listener and on every accepted connection. Only
    /// benchmarks turn it off: with Nagle on, each call waits for a delayed ACK (40 ms+).
    pub tcp_nodelay: bool,
    /// Cut a damaged storage file back to its last valid entry instead of refusing it, as
    /// far as that cuts only a torn tail (see [`Options::repair_discard_entries`]); a copy
    /// of the cut bytes is kept beside it. A torn tail after the last acknowledged write
    /// needs no flag: it is cut at every start.
    pub repair: bool,
}

/// Settings with defaults, kept apart from [`Config`] so that adding one does not break
/// callers that build a `Config`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// fsync the storage file before each write is acknowledged (see the README's
    /// "Durability").
    pub sync: bool,
    /// How long a connection may take to do its part.
    pub timeouts: Timeouts,
    /// With `repair`, also cut whole entries (acknowledged writes, or entries whose chain is
    /// broken), which `repair` alone refuses to do.
    pub repair_discard_entries: bool,
    /// Check the checksum of every entry at startup, not only the newest one's, and refuse
    /// a file with a damaged entry.
    pub verify: bool,
    /// Who may connect: by default only this machine, and no web page.
    pub access: Access,
    /// What all connections together may cost.
    pub limits: Limits,
}

/// Bounds over all connections together, beside those of each one (see the README's
/// "Limits").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once (`--max-connections`); one more is answered 503 and closed.
    pub connections: usize,
    /// Bytes the unfinished requests of all connections may hold (`--request-budget`); a
    /// connection whose request would go over it is closed with 1013 (try again later).
    pub request_budget: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 128,
            request_budget: 256 << 20,
        }
    }
}

/// Who may reach the store. There is no authentication: whoever completes a handshake can
/// read, write and delete every key. So by default the server listens on loopback only, and
/// refuses a handshake that carries an `Origin` header, which browsers send (and scripts of
/// any web page could otherwise reach `ws://127.0.0.1:PORT/ws`, since browsers do not ask
/// before a cross-origin WebSocket).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Listen on an address that is not loopback (`--allow-remote`).
    pub remote: bool,
    /// Origins whose pages may connect (`--allow-origin`), compared exactly, as the browser
    /// sends them (`http://localhost:8000`).
    pub origins: Vec<String>,
}

/// How long the server waits for a client before it drops the connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From TCP accept to the end of the WebSocket handshake.
    pub handshake: Duration,
    /// With nothing received (not even the Pong to the server's Ping, sent every third of
    /// this), and for a reply to be taken by the client.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            handshake: Duration::from_secs(5),
            idle: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// Often enough that a live client's Pong always comes before the idle timeout.
    fn ping_interval(&self) -> Duration {
        self.idle / 3
    }
}

/// A server that is bound and serving; [`RunningServer::shutdown`] stops it cleanly.
pub struct RunningServer {
    local_addr: SocketAddr,
    store: Arc<Store>,
    /// The storage file's lock, released once the store is closed.
    lock: File,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Opens the store, binds the listener and starts serving in a background task.
    ///
    /// Every failure here is a configuration problem the user can fix, so each error says
    /// which input was wrong.
    pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
        Self::start_with(config, Options::default()).await
    }

    /// [`RunningServer::start`] with [`Options`].
    pub async fn start_with(config: Config, options: Options) -> anyhow::Result<RunningServer> {
        let lock = open_storage_folder(&config.storage)?;
        let store = Arc::new(open_store(&config, &options)?);
        let listener = listener::bind(
            &config.host,
            config.port,
            config.tcp_nodelay,
            options.access.remote,
        )
        .await?;
        let local_addr = listener
            .local_addr()
            .context("cannot read the bound address")?;

        let endpoint = Arc::new(connection::Endpoint::new());
        handlers::register_all(&endpoint, &store).await?;

        let (stop, stopped) = watch::channel(false);
        let serving = accept::Serving {
            endpoint,
            timeouts: options.timeouts,
            tcp_nodelay: config.tcp_nodelay,
            shared: connection::Shared {
                origins: options.access.origins.clone().into(),
                budget: Arc::new(requests::Budget::new(options.limits.request_budget)),
            },
            connections: Arc::new(tokio::sync::Semaphore::new(options.limits.connections)),
            shutdown: stopped.clone(),
        };
        let task = tokio::spawn(serving.run(listener));
        Ok(RunningServer {
            local_addr,
            store,
            lock,
            stop,
            task,
        })
    }

    /// The address the listener is bound to, with the real port when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Resolves when the server stops by itself, which only happens on a fatal error.
    pub async fn wait_for_failure(&mut self) -> anyhow::Result<()> {
        (&mut self.task).await.context("server task panicked")?
    }

    /// Stops accepting new connections and closes the open ones (Close frame 1001), then
    /// flushes and closes the store once the calls in flight are done.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("server task panicked")??;
        let closed = close_store(self.store).await;
        drop(self.lock);
        closed
    }
}

/// Checks the storage file's folder, then opens and locks the file (see [`store_lock`]).
fn open_storage_folder(path: &std::path::Path) -> anyhow::Result<File> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            anyhow::bail!(
                "storage folder {} does not exist; create it first",
                dir.display()
            )
        }
        _ => store_lock::lock(path),
    }
}

/// Refuses a corrupt file before the engine sees it: the engine would "recover" it by
/// truncating, and the bytes it cut would be the user's data. `startup` cuts only what was
/// never acknowledged, or, with `--repair`, what the flags allow.
fn open_store(config: &Config, options: &Options) -> anyhow::Result<Store> {
    let mode = match config.repair {
        false => startup::Mode::Plain,
        true => startup::Mode::Repair {
            discard_entries: options.repair_discard_entries,
        },
    };
    let acked = startup::prepare(&config.storage, mode)?;
    if options.verify {
        startup::verify_every_entry(&config.storage, acked.tail)?;
    }
    Store::open(&config.storage, options.sync)
}

/// Takes the store out from under the handlers once the in-flight calls are done, and drops
/// it, which flushes and closes its file. Later calls get a "shutting down" error.
async fn close_store(store: Arc<Store>) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || store.close())
        .await
        .context("closing the store panicked")
}
