//! The web UI: the read-only state viewer (`ocuroot state view`) and the package preview
//! server (`ocuroot preview`), spec §8.
//!
//! This module owns the view models ([`model`]: typed structs built from one consistent
//! [`View`](crate::store::View) per request through [`crate::engine::query`] and
//! [`crate::plan`]), the templates ([`pages`], `maud`, escaping every value), the axum
//! routers with the method filter and the `Host` check, the live-update sources
//! (Server-Sent Events over the store tips, and a file watcher for the preview), and the
//! embedded CSS, JavaScript and logo. It sits above the engine and never writes a store:
//! it only takes views, reads documents and history, and plans.
//!
//! The servers block their thread on their own Tokio runtime; callers (the CLI) bind a
//! listener with [`bind`], print what they like in the `on_ready` callback and stop the
//! process to stop the server.

pub mod model;
pub mod pages;
mod server;

use std::net::{IpAddr, SocketAddr, TcpListener};

pub use pages::Preview;
pub use server::{Evaluate, PreviewSource, StateSource, serve_preview, serve_state};

use crate::engine::EngineError;
use crate::refs::{GlobError, RefParseError};
use crate::store::StoreError;

/// The version in asset URLs (`/static/style.css?v=…`), so a new binary's assets are not
/// taken from a browser's cache.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The ports tried, in order, when no port is given (as the original: 3000–3100).
pub const DEFAULT_PORTS: std::ops::RangeInclusive<u16> = 3000..=3100;

/// Why a page or a server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// Reading a store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A typed query failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Reading the holds (freezes, bad marks) of intent failed.
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// A glob (of a `/match/` URL) does not parse.
    #[error(transparent)]
    Glob(#[from] GlobError),
    /// A ref (of a `/ref/` URL, or stored in state) does not parse.
    #[error(transparent)]
    Ref(#[from] RefParseError),
    /// A stored document does not have the shape its ref promises.
    #[error("state document {r} is not a valid {what}")]
    BadDocument {
        /// The ref.
        r: String,
        /// What it should be.
        what: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Every default port is taken.
    #[error("no free port in 3000-3100 on {bind}")]
    NoFreePort {
        /// The address bound.
        bind: IpAddr,
    },
    /// The runtime or the server failed.
    #[error("the web server failed")]
    Serve(#[source] std::io::Error),
    /// The preview's file cannot be watched.
    #[error("cannot watch {path} for changes")]
    Watch {
        /// The path.
        path: String,
        /// The watcher's error.
        #[source]
        source: notify::Error,
    },
}

/// The result type of this module.
pub type UiResult<T> = Result<T, UiError>;

/// Where a server listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The address (127.0.0.1 unless the user says otherwise).
    pub bind: IpAddr,
    /// The port; `None` takes the first free one of [`DEFAULT_PORTS`], `Some(0)` one the
    /// system chooses.
    pub port: Option<u16>,
}

/// Binds a listener as `listen` says.
///
/// # Errors
///
/// [`UiError::Bind`] when the given port cannot be bound, [`UiError::NoFreePort`] when
/// none of the default ports is free.
pub fn bind(listen: &Listen) -> UiResult<TcpListener> {
    match listen.port {
        Some(port) => {
            let addr = SocketAddr::new(listen.bind, port);
            TcpListener::bind(addr).map_err(|source| UiError::Bind {
                addr: addr.to_string(),
                source,
            })
        }
        None => DEFAULT_PORTS
            .into_iter()
            .find_map(|port| TcpListener::bind(SocketAddr::new(listen.bind, port)).ok())
            .ok_or(UiError::NoFreePort { bind: listen.bind }),
    }
}

/// The host names a request's `Host` header may carry for a server bound to `bind`: the
/// bound address, `localhost` and `127.0.0.1` (anything else is a DNS-rebinding attempt
/// or a foreign page, and is refused).
pub fn allowed_hosts(bind: IpAddr) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    hosts.push(match bind {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    });
    hosts.dedup();
    hosts
}

/// True when `host` (a `Host` header: a name or address, with an optional port) names
/// one of `allowed`.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(h, _)| h).to_string() + "]"
    } else {
        host.split(':').next().unwrap_or(host).to_string()
    };
    allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_check_accepts_loopback_names_and_the_bound_address_only() {
        let allowed = allowed_hosts("127.0.0.1".parse().expect("ip"));
        assert!(host_allowed("localhost:3000", &allowed));
        assert!(host_allowed("LOCALHOST", &allowed));
        assert!(host_allowed("127.0.0.1:3001", &allowed));
        assert!(!host_allowed("evil.example:3000", &allowed));
        assert!(!host_allowed("localhost.evil.example", &allowed));
        assert!(!host_allowed("", &allowed));
        let v6 = allowed_hosts("::1".parse().expect("ip"));
        assert!(host_allowed("[::1]:3000", &v6));
        assert!(!host_allowed("[::2]:3000", &v6));
        let lan = allowed_hosts("10.1.2.3".parse().expect("ip"));
        assert!(host_allowed("10.1.2.3:3000", &lan));
        assert!(!host_allowed("10.1.2.4:3000", &lan));
    }

    proptest::proptest! {
        #[test]
        fn host_check_accepts_exactly_the_allowed_names(
            name in "[a-zA-Z0-9.-]{0,30}",
            port in proptest::option::of(0u32..70000),
        ) {
            let allowed = allowed_hosts("127.0.0.1".parse().expect("ip"));
            let host = match port {
                Some(p) => format!("{name}:{p}"),
                None => name.clone(),
            };
            let expected = allowed.iter().any(|a| a.eq_ignore_ascii_case(&name));
            proptest::prop_assert_eq!(host_allowed(&host, &allowed), expected);
        }
    }

    #[test]
    fn default_ports_skip_a_taken_port() {
        let first = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let taken = first.local_addr().expect("addr").port();
        let again = bind(&Listen {
            bind: "127.0.0.1".parse().expect("ip"),
            port: Some(taken),
        });
        assert!(matches!(again, Err(UiError::Bind { .. })));
    }
}
