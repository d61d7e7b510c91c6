//! Issue 13: on Redis every store call is a network round trip that can stall for its whole
//! timeout, so none may run on the runtime's threads, where it would stall every request.
//!
//! The test runs the proxy on a current-thread runtime: the test's own thread is the runtime's
//! only worker, so a store call recorded on it ran on the runtime.

use std::sync::Arc;
use std::time::Duration;

use crate::observed_store::ObservedStore;
use crate::photos::{id_form, photo_form, upload};
use crate::util::{SseReader, Step, SteppedProvider, TestServer, figure_photo, shirt_photo};

#[tokio::test]
async fn no_store_call_of_a_whole_try_on_runs_on_the_runtime() {
    let runtime_thread = std::thread::current().id();
    let store = Arc::new(ObservedStore::default());
    let provider = SteppedProvider::new();
    let server = TestServer::start_on(provider.clone(), store.clone(), &[]).await;
    // Start-up reloads the stored tasks before anything is served; requests start here.
    store.forget_calls();

    let (status, photo) = upload(&server, photo_form(figure_photo()), Some("photo-1")).await;
    assert_eq!(status, 201, "{photo}");
    let photo_id = photo["id"].as_str().unwrap().to_owned();
    let form = || id_form(&photo_id, shirt_photo());
    let (status, created) = server.create(form(), Some("create-1")).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, replayed) = server.create(form(), Some("create-1")).await;
    assert_eq!(
        (status, replayed["id"].as_str()),
        (202, Some(id.as_str())),
        "a replay"
    );
    let (status, again) = server.create(form(), None).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (202, Some(id.as_str())),
        "an identical submission"
    );

    let mut events = SseReader::new(server.events(&id, None).await);
    provider.wait_runs(1).await;
    provider.step(Step::Progress(40));
    provider.step(Step::Succeed);
    events
        .until("success", |view| view.status.is_terminal())
        .await;
    let (status, _) = server.get_json(&format!("/v1/tryons/{id}")).await;
    assert_eq!(status, 200);
    let result = server.get(&format!("/v1/tryons/{id}/result")).await;
    assert_eq!(result.status(), 200);
    let deleted = server
        .client
        .delete(server.url(&format!("/v1/tryons/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(server.get("/readyz").await.status(), 200);
    // Releases nobody waits for (a lease, a mark) land shortly after.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The probe sees the store: every kind of call the flow makes was recorded.
    for method in [
        "photo_put",
        "photo_get",
        "idempotency_lock",
        "idempotency_put",
        "idempotency_unlock",
        "insert_task",
        "claim",
        "append_event",
        "finish_task",
        "result",
        "delete_task",
        "release",
        "ping",
    ] {
        assert!(
            store.calls_of(&[method]) > 0,
            "the flow made no `{method}` call; it made {:?}",
            store.methods()
        );
    }
    let on_runtime = store.called_on(runtime_thread);
    assert!(
        on_runtime.is_empty(),
        "store calls ran on the runtime's thread: {on_runtime:?}"
    );
}
