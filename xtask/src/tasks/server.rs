//! `cargo xtask server`: builds the server and runs it in the foreground for manual
//! debugging, printing lines another shell can paste (among them the `cargo xtask pytest
//! --server` command that tests against it), and streaming its log until Ctrl-C.

use std::time::Duration;

use anyhow::Result;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::Reported;
use crate::base::signals;
use crate::server::test_server::{self, Server};
use crate::{errln, flags, outln};

pub fn run(sh: &StepContext, flags: &flags::Server) -> Result<()> {
    let binary = test_server::build(sh, flags.release)?;
    let server = Server::start(
        sh,
        test_server::Options {
            binary,
            host: flags.host.clone(),
            port: flags.port,
            storage: flags.storage.clone(),
            ready_timeout: Duration::from_secs(flags.ready_timeout),
            log_dir: paths::xtask_dir()?.join("logs"),
        },
    )?;
    let test_server::Address { host, port } = &server.address;
    let kept = if flags.storage.is_some() {
        "kept"
    } else {
        "removed on exit"
    };
    outln!(
        "server ready at ws://{host}:{port} in {} ms",
        server.ready_after.as_millis()
    );
    outln!("storage: {} ({kept})", server.storage);
    outln!("log: {}", paths::display_path(&server.log));
    outln!("export TEST_SERVER_HOST={host} TEST_SERVER_PORT={port}");
    outln!(
        "test against it: cargo xtask pytest --server ws://{}:{port}",
        reachable_host(host)
    );
    outln!("press Ctrl-C to stop");
    let streamed = server.stream_log();
    match signals::received() {
        // Ctrl-C is how this command is meant to stop: say so, and nothing about an error.
        Some(interrupted) => {
            server.stop();
            let storage = if flags.storage.is_some() {
                "storage kept"
            } else {
                "temp storage removed"
            };
            errln!(
                "server stopped ({}; {storage})",
                signals::name(interrupted.0)
            );
            Err(Reported {
                code: interrupted.exit_code(),
            }
            .into())
        }
        None => streamed,
    }
}

/// The host to connect to: a server bound to every address is reached through loopback.
fn reachable_host(host: &str) -> &str {
    match host {
        "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        host => host,
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
