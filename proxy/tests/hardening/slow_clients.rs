//! Slow and silent clients on raw TCP against the real server (hyper's header-read timeout
//! with a Tokio timer, the upload deadline, the connection cap). Timeouts are set to 1–2 s so
//! the tests are quick; each wait is bounded.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Server;

const HEADER_TIMEOUT_S: u64 = 1;

async fn quick_server(extra: &[&str]) -> Server {
    let mut args = vec!["--header-timeout-s", "1", "--upload-timeout-s", "2"];
    args.extend_from_slice(extra);
    Server::start(&args).await
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
/// Fails if it is still open after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let reading = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, reading)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "connection still open after {limit:?}; received {:?}",
                String::from_utf8_lossy(&received)
            )
        });
    (received, started.elapsed())
}

#[tokio::test]
async fn a_partial_request_head_is_closed_within_the_timeout_plus_one_second() {
    let server = quick_server(&[]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, after) =
        read_until_closed(&mut stream, Duration::from_secs(HEADER_TIMEOUT_S + 1)).await;
    assert!(
        after >= Duration::from_millis(900),
        "closed too early ({after:?}): not the timeout"
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_within_the_timeout_plus_one_second() {
    let server = quick_server(&[]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let (received, _) =
        read_until_closed(&mut stream, Duration::from_secs(HEADER_TIMEOUT_S + 1)).await;
    assert!(
        received.is_empty(),
        "nothing was asked, so nothing is answered"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_like_a_silent_one() {
    let server = quick_server(&[]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (received, _) =
        read_until_closed(&mut stream, Duration::from_secs(HEADER_TIMEOUT_S + 1)).await;
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn a_body_trickled_at_ten_bytes_a_second_gets_408() {
    trickle_gets_408("/v1/tryons").await;
}

#[tokio::test]
async fn a_check_trickled_at_ten_bytes_a_second_gets_408() {
    trickle_gets_408("/v1/checks/person").await;
}

/// A multipart upload to `path` trickled at 10 B/s is answered 408 once the upload deadline
/// (2 s here) has passed.
async fn trickle_gets_408(path: &str) {
    let server = quick_server(&[]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        // At most 10 s of trickling; the server must answer long before.
        for _ in 0..10 {
            if writer.write_all(b"--b\r\nxxxxx").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut received = Vec::new();
    let reading = async {
        let mut buf = [0u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), reading)
        .await
        .expect("an answer within 5 s");
    trickle.abort();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{path}: {text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("application/problem+json"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_sockets_do_not_stop_healthz() {
    // Idle sockets must outlive the check, so this server waits 30 s for request heads. They
    // all come from 127.0.0.1, which may hold them all here: the cap itself is under test.
    let server = Server::start(&[
        "--header-timeout-s",
        "30",
        "--max-connections",
        "4096",
        "--max-connections-per-ip",
        "4096",
    ])
    .await;
    let mut idle = Vec::with_capacity(2000);
    for i in 0..2000 {
        let stream = TcpStream::connect(server.addr)
            .await
            .unwrap_or_else(|e| panic!("idle socket {i}: {e} (is the fd limit below 4100?)"));
        idle.push(stream);
    }
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        server.client.get(server.url("/healthz")).send(),
    )
    .await
    .expect("/healthz answers within 5 s beside 2000 idle sockets")
    .expect("/healthz request");
    assert_eq!(response.status(), 200);
    assert_eq!(idle.len(), 2000);
}

#[tokio::test]
async fn at_the_connection_cap_new_connections_wait_until_one_closes() {
    let server = Server::start(&[
        "--header-timeout-s",
        "30",
        "--max-connections",
        "2",
        "--max-connections-per-ip",
        "3",
    ])
    .await;
    let first = TcpStream::connect(server.addr).await.unwrap();
    let second = TcpStream::connect(server.addr).await.unwrap();
    let health = server.client.get(server.url("/healthz")).send();
    tokio::pin!(health);
    let early = tokio::time::timeout(Duration::from_millis(500), &mut health).await;
    assert!(
        early.is_err(),
        "a third connection must wait while two are open"
    );
    drop((first, second));
    let response = tokio::time::timeout(Duration::from_secs(5), health)
        .await
        .expect("answered once a slot is free")
        .expect("/healthz");
    assert_eq!(response.status(), 200);
}

/// A connection from `from` (a loopback address of its own) to `server`.
async fn connect_from(from: &str, server: &Server) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(server.addr).await.unwrap()
}

/// Issue 13: one address may hold only its share of the connection cap.
#[tokio::test]
async fn one_address_past_its_share_of_connections_is_closed_while_another_is_served() {
    let server = Server::start(&[
        "--header-timeout-s",
        "30",
        "--max-connections",
        "8",
        "--max-connections-per-ip",
        "2",
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from("127.0.0.2", &server).await;
        // A request head that never ends: each connection holds its slot.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    // Give the server time to accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect_from("127.0.0.2", &server).await;
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (received, after) = read_until_closed(&mut third, Duration::from_secs(2)).await;
    assert!(
        received.is_empty(),
        "a connection past the share was served: {:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(
        after < Duration::from_secs(1),
        "closed after {after:?}, not at once"
    );
    // Another address is served at once, beside the two held connections.
    let mut other = connect_from("127.0.0.4", &server).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut other, Duration::from_secs(2)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // Once one of its connections closes, the address may open another.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect_from("127.0.0.2", &server).await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut again, Duration::from_secs(2)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}
