//! Accepting connections with the slow-client defences `axum::serve` does not offer.
//!
//! A client that opens a connection and then sends its request head slowly (or nothing at
//! all) costs a task and a buffer for as long as the server lets it. hyper enforces a header
//! read timeout only when a timer is installed, and `axum::serve` neither exposes the timeout
//! nor caps connections. So connections are served here with hyper's HTTP/1 builder directly:
//! a Tokio timer, a header read timeout (which hyper also applies while a kept-alive
//! connection waits for its next request, so it doubles as the keep-alive idle timeout), and a
//! semaphore that caps open connections (at the cap, new ones wait in the kernel's backlog).
//! HTTP/1 only, on purpose: hyper-util's auto (h1/h2) builder reads the first bytes without
//! any timeout (hyper #3756), and the proxy sits behind a CDN or reverse proxy for HTTP/2.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How connections are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Time to receive a complete request head, from the connection's start or the end of
    /// the previous response; also the keep-alive idle timeout.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long open requests may finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 2048,
            shutdown_grace: Duration::from_secs(10),
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
        let _ = tcp.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(tcp), connection_service(router.clone(), peer));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are clients that vanished or timed out: nothing to report.
            let _ = connection.await;
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
