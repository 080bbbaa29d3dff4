//! What one node of a run makes for later ones (the test list, the server, the wheel), as a
//! value of its own: the table's rows hand it to the node that makes it and to those that
//! use it, so that reading a row shows what flows along its needs.

use std::sync::OnceLock;

use anyhow::{Result, anyhow};

/// A value that the node `maker` makes once, for the nodes that need it.
pub struct Output<T> {
    /// What it is, and which node makes it, for the error of a node that finds it missing.
    what: &'static str,
    maker: &'static str,
    value: OnceLock<T>,
}

impl<T> Output<T> {
    pub const fn new(what: &'static str, maker: &'static str) -> Output<T> {
        Output {
            what,
            maker,
            value: OnceLock::new(),
        }
    }

    /// Kept: what a node made. A second value (a node run twice) is dropped: the first one
    /// was handed out already.
    pub fn set(&self, value: T) {
        let _ = self.value.set(value);
    }

    /// The value, if made.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, or an error that names the node that should have made it: for a node
    /// that needs it (its maker is among its needs, so it has passed).
    pub fn made(&self) -> Result<&T> {
        self.get()
            .ok_or_else(|| anyhow!("no {}: `{}` did not make it", self.what, self.maker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_output_names_its_maker_and_the_first_value_stays() {
        let server: Output<u16> = Output::new("server", "server up");
        let error = server.made().unwrap_err();
        assert_eq!(error.to_string(), "no server: `server up` did not make it");
        server.set(1);
        server.set(2);
        assert_eq!(server.made().unwrap(), &1);
        assert_eq!(server.get(), Some(&1));
    }
}
