//! The widget's files at the root path, and the demo storefront in `--demo` mode.

use crate::create::tempdir;
use crate::util::{SteppedProvider, TestServer, assert_problem};

fn assets_dir(name: &str) -> std::path::PathBuf {
    let dir = tempdir(name);
    std::fs::write(
        dir.join("widget.js"),
        "customElements.define('try-on-button', class extends HTMLElement {});",
    )
    .unwrap();
    std::fs::write(dir.join("tryon_widget-1a2b3c4d.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.join("worker.js"), "self.onmessage = () => {};").unwrap();
    dir
}

#[tokio::test]
async fn widget_files_have_types_cache_headers_and_cors() {
    let dir = assets_dir("assets-headers");
    let server = TestServer::start(
        SteppedProvider::new(),
        &["--assets-dir", dir.to_str().unwrap()],
    )
    .await;

    let wasm = server.get("/tryon_widget-1a2b3c4d.wasm").await;
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(
        wasm.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(wasm.headers()["access-control-allow-origin"], "*");
    assert_eq!(wasm.bytes().await.unwrap().as_ref(), b"\0asm\x01\0\0\0");

    let loader = server.get("/widget.js").await;
    assert_eq!(loader.status(), 200);
    assert!(
        loader.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(loader.headers()["cache-control"], "public, max-age=300");
    assert_eq!(loader.headers()["access-control-allow-origin"], "*");

    let worker = server.get("/worker.js").await;
    assert_eq!(
        worker.headers()["cache-control"],
        "no-cache",
        "unhashed names revalidate"
    );

    let missing = server.get("/nope-1a2b3c4d.wasm").await;
    let status = missing.status().as_u16();
    assert_problem(status, &missing.json().await.unwrap(), 404, "not_found");

    let escape = server.get("/..%2f..%2fCargo.toml").await;
    assert_eq!(
        escape.status(),
        404,
        "no path traversal out of the assets folder"
    );
}

#[tokio::test]
async fn a_gzip_copy_is_sent_to_browsers_that_accept_gzip() {
    let dir = assets_dir("assets-gzip");
    let gzip_copy = b"\x1f\x8b pretend gzip of the wasm";
    std::fs::write(dir.join("tryon_widget-1a2b3c4d.wasm.gz"), gzip_copy).unwrap();
    let server = TestServer::start(
        SteppedProvider::new(),
        &["--assets-dir", dir.to_str().unwrap()],
    )
    .await;
    let get = |accept_encoding: &'static str| {
        server
            .client
            .get(server.url("/tryon_widget-1a2b3c4d.wasm"))
            .header("accept-encoding", accept_encoding)
            .send()
    };

    let gzipped = get("gzip, deflate, br, zstd").await.unwrap();
    assert_eq!(gzipped.status(), 200);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["content-type"], "application/wasm");
    assert_eq!(
        gzipped.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        gzipped.headers()["vary"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding"),
        "caches must keep the two forms apart"
    );
    assert_eq!(gzipped.bytes().await.unwrap().as_ref(), gzip_copy);

    let identity = get("identity").await.unwrap();
    assert!(identity.headers().get("content-encoding").is_none());
    assert_eq!(identity.bytes().await.unwrap().as_ref(), b"\0asm\x01\0\0\0");
}

#[tokio::test]
async fn demo_mode_serves_the_storefront_and_its_files() {
    let www = tempdir("demo-www");
    std::fs::create_dir_all(www.join("demo")).unwrap();
    std::fs::write(www.join("demo/index.html"), "<h1>Linen shirt</h1>").unwrap();
    std::fs::write(www.join("demo/person.jpg"), crate::util::jpeg(20, 20)).unwrap();
    let args = ["--demo", "--www-dir", www.to_str().unwrap()];
    let server = TestServer::start(SteppedProvider::new(), &args).await;

    let page = server.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.text().await.unwrap(), "<h1>Linen shirt</h1>");
    let photo = server.get("/demo/person.jpg").await;
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");

    let plain = TestServer::start(
        SteppedProvider::new(),
        &["--www-dir", www.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        plain.get("/demo/person.jpg").await.status(),
        404,
        "no storefront without --demo"
    );
}
