//! Accepting connections with the slow-client defences `axum::serve` does not offer.
//!
//! A client that opens a connection and then sends its request head slowly (or nothing at
//! all) costs a task and a buffer for as long as the server lets it. hyper enforces a header
//! read timeout only when a timer is installed, and `axum::serve` neither exposes the timeout
//! nor caps connections. So connections are served here with hyper's HTTP/1 builder directly:
//! a Tokio timer, a header read timeout (which hyper also applies while a kept-alive
//! connection waits for its next request, so it doubles as the keep-alive idle timeout), and a
//! semaphore that caps open connections (at the cap, new ones wait in the kernel's backlog).
//! Issue 13: one client address may hold only a share of that cap (an IPv6 /64 counts as one
//! address, as for the rate limits); a connection beyond its share is closed as soon as it is
//! accepted, so one client cannot hold every connection open while others wait. The share is
//! counted by the socket peer (nothing of the request has been read yet); our own reverse
//! proxies (`TRYON_TRUSTED_PROXIES`) carry everyone's connections and are exempt.
//! HTTP/1 only, on purpose: hyper-util's auto (h1/h2) builder reads the first bytes without
//! any timeout (hyper #3756), and the proxy sits behind a CDN or reverse proxy for HTTP/2.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How connections are bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Time to receive a complete request head, from the connection's start or the end of
    /// the previous response; also the keep-alive idle timeout.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one client address may hold at once (issue 13).
    pub max_connections_per_ip: usize,
    /// Peers exempt from the per-address share: our own reverse proxies.
    pub shared_peers: Arc<[IpNet]>,
    /// How long open requests may finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 2048,
            max_connections_per_ip: default_share_per_ip(2048),
            shared_peers: Arc::from([]),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// An eighth of the connection cap (256 of the default 2,048): far more than a browser opens
/// (six per site) or a busy office behind one address needs, while a client holding its
/// whole share leaves seven eighths to everyone else.
pub fn default_share_per_ip(max_connections: usize) -> usize {
    (max_connections / 8).max(1)
}

/// Open connections per client address.
struct PerAddress {
    limit: usize,
    shared_peers: Arc<[IpNet]>,
    open: Mutex<HashMap<String, usize>>,
}

/// One open connection of an address; gives its place back when dropped.
struct AddressSlot {
    owner: Arc<PerAddress>,
    key: Option<String>,
}

impl PerAddress {
    /// A place for a connection from `peer`, or `None` when the address holds its share.
    fn enter(self: &Arc<Self>, peer: IpAddr) -> Option<AddressSlot> {
        let peer = peer.to_canonical();
        if self.shared_peers.iter().any(|net| net.contains(&peer)) {
            return Some(AddressSlot {
                owner: self.clone(),
                key: None,
            });
        }
        let key = crate::abuse::address_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            owner: self.clone(),
            key: Some(key),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// Handshakes the kernel completes and queues while the proxy is busy or at its connection
/// cap. Tokio's `TcpListener::bind` asks for 1,024: when a crowd opens more streams than that at
/// once, the kernel drops the surplus handshakes and those browsers retry after a second or
/// more (issue 7's 10,000 watchers opened together: stream opening p99 1.7 s). Linux caps the
/// request at `net.core.somaxconn` (4,096 by default).
const LISTEN_BACKLOG: u32 = 8192;

/// A listener on `address` with [`LISTEN_BACKLOG`] and, as std's and Tokio's own bind,
/// `SO_REUSEADDR`, so a restarted proxy binds while old connections linger in TIME_WAIT.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish
/// for up to the grace period. Handlers can read the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let per_address = Arc::new(PerAddress {
        limit: options.max_connections_per_ip.max(1),
        shared_peers: options.shared_peers.clone(),
        open: Mutex::default(),
    });
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors or a connection reset before accept: back off
                    // briefly instead of spinning; the listener itself is still fine.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_address.enter(peer.ip()) else {
            // Closed unread: this address already holds its share of the cap.
            tracing::debug!("closed a connection over its address's share");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(tcp), connection_service(router.clone(), peer));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are clients that vanished or timed out: nothing to report.
            let _ = connection.await;
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
    Ok(())
}

fn connection_service(
    router: Router,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(axum::body::Body::new))
    })
}

/// Route middleware: a request whose handler (reading the upload included) has not answered
/// within `limit` gets 408 `request_timeout`. On the create route that bounds a trickled body;
/// hyper's header timeout has already bounded the head.
pub async fn upload_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => crate::error::ApiError::RequestTimeout.into_response(),
    }
}

/// Route middleware for non-streaming handlers: one that has not answered within `limit` is
/// abandoned with 500 (a bug or a stuck dependency, never the client's fault), so no request
/// holds a connection and a task indefinitely.
pub async fn handler_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => crate::error::ApiError::Internal(format!("{path} took longer than {limit:?}"))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing accepts, so every handshake that completes waits in the kernel's queue; with
    /// Tokio's default backlog of 1,024 the rest would stall past the timeout.
    #[tokio::test]
    async fn the_kernel_queues_a_crowd_larger_than_tokios_default_backlog() {
        const CROWD: usize = 1500;
        let listener = bind("127.0.0.1:0".parse().unwrap()).expect("binds a loopback port");
        let address = listener.local_addr().unwrap();
        let connects = (0..CROWD).map(|_| {
            tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(address),
            )
        });
        let results = futures::future::join_all(connects).await;
        let connected = results
            .iter()
            .filter(|result| matches!(result, Ok(Ok(_))))
            .count();
        assert_eq!(
            connected, CROWD,
            "handshakes completed within 500 ms while nothing accepted"
        );
    }
}
