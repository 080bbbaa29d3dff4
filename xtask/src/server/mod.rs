//! The server under test: built, started, waited for and stopped, and the owner that reaps it.

pub mod server_owner;
pub mod test_server;
