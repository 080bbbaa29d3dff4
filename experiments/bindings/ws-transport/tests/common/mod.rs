//! A real server on an ephemeral port, in this process, over a throwaway store.

use simd_r_drive_ws_server::{Config, RunningServer};
use simd_r_drive_ws_transport::{ConnectOptions, WsTransport};
use std::sync::Arc;
use tempfile::TempDir;

/// A running server and the folder that holds its store; dropping the folder deletes it.
pub struct TestServer {
    pub server: RunningServer,
    _storage: TempDir,
}

impl TestServer {
    pub async fn start(tcp_nodelay: bool) -> TestServer {
        let storage = tempfile::tempdir().expect("cannot create a temp dir");
        let config = Config {
            storage: storage.path().join("store.bin"),
            host: "127.0.0.1".into(),
            port: 0,
            tcp_nodelay,
            repair: false,
        };
        let server = RunningServer::start(config)
            .await
            .expect("server did not start");
        TestServer {
            server,
            _storage: storage,
        }
    }

    pub async fn connect(&self, tcp_nodelay: bool) -> Arc<WsTransport> {
        let options = ConnectOptions {
            tcp_nodelay,
            ..ConnectOptions::default()
        };
        let port = self.server.local_addr().port();
        WsTransport::connect("127.0.0.1", port, options)
            .await
            .expect("cannot connect")
    }
}
