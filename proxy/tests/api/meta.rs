//! Configuration, health, the OpenAPI document and unknown paths.

use crate::util::{TestServer, assert_problem};

#[tokio::test]
async fn config_reports_provider_options_and_limits() {
    let server = TestServer::with_local(
        100,
        &["--max-image-bytes", "5000000", "--person-max-edge", "1536"],
    )
    .await;
    let (status, json) = server.get_json("/v1/config").await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["provider"], "local");
    assert_eq!(
        json["categories"],
        serde_json::json!(["upper", "lower", "full", "combo"])
    );
    assert_eq!(
        json["qualities"],
        serde_json::json!(["fast", "balanced", "best"])
    );
    assert_eq!(
        json["checks"],
        serde_json::json!({"person": true, "garment": true}),
        "both check routes answer, with local checks when the provider has none"
    );
    assert_eq!(
        json["check_sources"],
        serde_json::json!({"person": "local", "garment": "local"})
    );
    let limits = &json["limits"];
    assert_eq!(limits["max_upload_bytes"], 5_000_000);
    assert_eq!(limits["person_max_edge"], 1536);
    assert_eq!(limits["garment_max_edge"], 1024);
    assert_eq!(json["photo_ttl_s"], 1800, "issue 14: 30 minutes by default");
    assert_eq!(
        limits["accept"],
        serde_json::json!(["image/jpeg", "image/png", "image/webp"])
    );
}

#[tokio::test]
async fn healthz_answers_while_serving() {
    let server = TestServer::with_local(100, &[]).await;
    let response = server.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_every_route() {
    let server = TestServer::with_local(100, &[]).await;
    let (status, doc) = server.get_json("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "version: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths object");
    let expected = [
        ("/v1/config", "get"),
        ("/v1/tryons", "post"),
        ("/v1/tryons/{id}", "get"),
        ("/v1/tryons/{id}", "delete"),
        ("/v1/tryons/{id}/events", "get"),
        ("/v1/tryons/{id}/result", "get"),
        ("/healthz", "get"),
        ("/v1/openapi.json", "get"),
        ("/v1/checks/person", "post"),
        ("/v1/checks/garment", "post"),
        ("/v1/webhooks/fitinview", "post"),
        ("/v1/webhooks/vtryon", "post"),
        ("/v1/photos", "post"),
        ("/v1/photos/{id}", "get"),
        ("/v1/photos/{id}", "delete"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from {paths:?}"
        );
    }
    let create = &paths["/v1/tryons"]["post"];
    assert!(
        create["requestBody"]["content"]["multipart/form-data"].is_object(),
        "multipart body: {create}"
    );
    assert!(
        create["responses"]["202"].is_object() && create["responses"]["413"].is_object(),
        "{create}"
    );
    // Issue 14: a result fitted to the width the client shows it at.
    let result = &paths["/v1/tryons/{id}/result"]["get"];
    assert!(
        result["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "width" && p["in"] == "query")),
        "the result takes ?width: {result}"
    );
    assert!(result["responses"]["400"].is_object(), "{result}");
    let upload = &paths["/v1/photos"]["post"];
    assert!(
        upload["responses"]["201"].is_object() && upload["responses"]["429"].is_object(),
        "{upload}"
    );
    for (path, form) in [
        ("/v1/tryons", "CreateTryOnForm"),
        ("/v1/checks/person", "PersonCheckForm"),
    ] {
        let body = &paths[path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"];
        assert!(
            body["properties"]["photo_id"].is_object(),
            "{form} takes a photo_id: {body}"
        );
        assert!(
            paths[path]["post"]["responses"]["404"].is_object(),
            "{path} documents photo_not_found"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let codes = schemas["ErrorCode"].to_string();
    assert!(codes.contains("photo_not_found"), "{codes}");
    for schema in [
        "TryOnView",
        "Problem",
        "ErrorCode",
        "ConfigResponse",
        "CreatedTryOn",
        "PersonCheck",
        "GarmentCheck",
        "CheckSources",
        "UploadedPhoto",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
}

#[tokio::test]
async fn unknown_paths_are_problem_404s_that_say_what_was_not_found() {
    let server = TestServer::with_local(100, &[]).await;
    let response = server.get("/v1/nothing-here").await;
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap();
    assert_problem(status, &json, 404, "not_found");
    assert_eq!(json["detail"], "no route GET /v1/nothing-here");

    let response = server.get("/admin/api/summary").await;
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap();
    assert_problem(status, &json, 404, "not_found");
    assert_eq!(json["detail"], "no route GET /admin/api/summary");

    let response = server
        .client
        .post(server.url("/admin/api/summary"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap();
    assert_problem(status, &json, 404, "not_found");
    assert_eq!(json["detail"], "no route POST /admin/api/summary");

    // A task that does not exist is still a missing try-on.
    let (status, json) = server
        .get_json("/v1/tryons/0123456789abcdef0123456789abcdef")
        .await;
    assert_problem(status, &json, 404, "not_found");
    assert_eq!(json["detail"], "no such try-on");
}

#[tokio::test]
async fn metrics_are_not_public_by_default_and_need_the_bearer_token() {
    use std::sync::Arc;
    use tryon_proxy::providers::local::LocalProvider;
    use tryon_proxy::store::MemoryStore;

    let provider = || Arc::new(LocalProvider::new(std::time::Duration::from_millis(100)));
    let open =
        TestServer::start_with(provider(), Arc::new(MemoryStore::default()), &[], |_| {}).await;
    let response = open.get("/metrics").await;
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap();
    assert_problem(status, &json, 404, "not_found");

    let guarded = TestServer::with_local(100, &[]).await;
    for presented in [None, Some("wrong-token"), Some("test-metrics-tokeN")] {
        let mut request = guarded.client.get(guarded.url("/metrics"));
        if let Some(token) = presented {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().await.unwrap();
        assert_problem(status, &json, 401, "unauthorized");
    }
    assert!(guarded.metrics().await.contains("tryon_queue_depth"));

    // `--metrics-listen`: the same figures on an address of their own, without a token.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = tryon_proxy::metrics_endpoint::router(open.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let text = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("tryon_queue_depth"), "{text}");
}
