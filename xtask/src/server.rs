//! `cargo xtask server`: builds the server and runs it in the foreground for manual
//! debugging, printing lines another shell can paste (among them the `cargo xtask pytest
//! --server` command that tests against it), and streaming its log until Ctrl-C.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::guard::{self, Server};
use crate::{flags, paths};

pub fn run(sh: &Shell, flags: &flags::Server) -> Result<()> {
    let binary = guard::build(sh, flags.release)?;
    let server = Server::start(
        sh,
        guard::Options {
            binary,
            host: flags.host.clone(),
            port: flags.port,
            storage: flags.storage.clone(),
            ready_timeout: Duration::from_secs(flags.ready_timeout),
            log_dir: paths::xtask_dir(sh)?.join("logs"),
        },
    )?;
    let guard::Address { host, port } = &server.address;
    let kept = if flags.storage.is_some() {
        "kept"
    } else {
        "removed on exit"
    };
    println!(
        "server ready at ws://{host}:{port} in {} ms",
        server.ready_after.as_millis()
    );
    println!("storage: {} ({kept})", server.storage);
    println!("log: {}", server.log);
    println!("export TEST_SERVER_HOST={host} TEST_SERVER_PORT={port}");
    println!(
        "test against it: cargo xtask pytest --server ws://{}:{port}",
        reachable_host(host)
    );
    println!("press Ctrl-C to stop");
    std::io::stdout().flush()?;
    stream_log(&server)
}

/// The host to connect to: a server bound to every address is reached through loopback.
fn reachable_host(host: &str) -> &str {
    match host {
        "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        host => host,
    }
}

/// Copies the log to stderr as it grows, until the server exits (an error) or a signal ends
/// xtask.
fn stream_log(server: &Server) -> Result<()> {
    let mut log =
        std::fs::File::open(&server.log).with_context(|| format!("cannot open {}", server.log))?;
    let mut stderr = std::io::stderr();
    log.seek(SeekFrom::Start(0))?;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        log.read_to_end(&mut buffer)?;
        stderr.write_all(&buffer)?;
        if buffer.is_empty() {
            server.check_alive()?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_are_reached_through_loopback() {
        for (host, reachable) in [
            ("0.0.0.0", "127.0.0.1"),
            ("[::]", "[::1]"),
            ("127.0.0.1", "127.0.0.1"),
            ("example.org", "example.org"),
        ] {
            assert_eq!(reachable_host(host), reachable);
        }
    }
}
