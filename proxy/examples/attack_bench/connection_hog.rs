//! One client address opening far more connections than it needs and keeping each open as
//! long as the proxy lets it (a request head it never finishes), re-opening any the proxy
//! closes, while new shoppers arrive on connections of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::Report;
use crate::honest::{self, HONEST_ADDRESS};
use crate::proxy::Proxy;

const ATTACKER: &str = "127.0.0.2";
/// The proxy's cap for this scenario, and the connections the attacker keeps trying to hold.
const MAX_CONNECTIONS: &str = "256";
const HOGGED: usize = 400;
const LENGTH: Duration = Duration::from_secs(20);
/// Connections the attacker may open in all.
const MAX_OPENED: usize = 40_000;

pub async fn run() -> Report {
    let proxy = Proxy::start(&["--max-connections", MAX_CONNECTIONS], &[]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss_mib = proxy.rss_mib();
    let opened = Arc::new(AtomicUsize::new(0));
    let closed_within_a_second = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let hogs: Vec<_> = (0..HOGGED)
        .map(|_| {
            let addr: std::net::SocketAddr = proxy.addr.parse().unwrap();
            let (opened, closed_early) = (opened.clone(), closed_within_a_second.clone());
            tokio::spawn(async move {
                while started.elapsed() < LENGTH && opened.fetch_add(1, Ordering::SeqCst) < MAX_OPENED {
                    let socket = TcpSocket::new_v4().unwrap();
                    socket.bind(format!("{ATTACKER}:0").parse().unwrap()).unwrap();
                    let Ok(Ok(mut stream)) =
                        tokio::time::timeout(Duration::from_secs(1), socket.connect(addr)).await
                    else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let at = Instant::now();
                    // A request head that never ends.
                    let _ = stream.write_all(b"GET /v1/config HTTP/1.1\r\nHost: x\r\n").await;
                    let left = LENGTH.saturating_sub(started.elapsed());
                    let mut byte = [0u8; 64];
                    let _ = tokio::time::timeout(left, stream.read(&mut byte)).await;
                    if at.elapsed() < Duration::from_secs(1) {
                        closed_early.fetch_add(1, Ordering::SeqCst);
                        // Refused at once: try again a little later rather than spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();
    // Let the hog take its connections first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = honest::fresh_connection_client(HONEST_ADDRESS);
    let url = proxy.url("/v1/config");
    let honest = honest::measure(
        LENGTH - Duration::from_secs(2),
        Duration::from_millis(20),
        200,
        |_| {
            let (client, url) = (client.clone(), url.clone());
            async move { client.get(url).send().await.ok().map(|a| a.status().as_u16()) }
        },
    )
    .await;
    for hog in hogs {
        hog.await.unwrap();
    }
    Report {
        idle_rss_mib,
        peak_rss_mib: proxy.peak_rss_mib(),
        honest,
        attack: format!(
            "{HOGGED} connections held from one address against a cap of {MAX_CONNECTIONS} for {:.1} s: \
             {} opened, {} closed by the proxy within a second",
            started.elapsed().as_secs_f64(),
            opened.load(Ordering::SeqCst).min(MAX_OPENED),
            closed_within_a_second.load(Ordering::SeqCst)
        ),
    }
}
