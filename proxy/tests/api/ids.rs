//! Issue 13: ids that no task can have are refused before the registry or the store is asked.

use std::sync::Arc;

use crate::observed_store::ObservedStore;
use crate::util::{SteppedProvider, TestServer, assert_problem};

/// The store calls that read or delete one task.
const PER_TASK: [&str; 3] = ["load_task", "result", "delete_task"];

#[tokio::test]
async fn malformed_task_ids_are_404_problems_that_never_reach_the_store() {
    let store = Arc::new(ObservedStore::default());
    let server = TestServer::start_on(SteppedProvider::new(), store.clone(), &[]).await;
    let long = "a".repeat(5000);
    let malformed = [
        "nope",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "%2e%2e%2fsecret",
        long.as_str(),
    ];
    for id in malformed {
        for suffix in ["", "/result", "/events"] {
            let response = server.get(&format!("/v1/tryons/{id}{suffix}")).await;
            let status = response.status().as_u16();
            let json = response.json().await.unwrap();
            assert_problem(status, &json, 404, "not_found");
        }
        let response = server
            .client
            .delete(server.url(&format!("/v1/tryons/{id}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_problem(status, &response.json().await.unwrap(), 404, "not_found");
    }
    assert_eq!(
        store.calls_of(&PER_TASK),
        0,
        "a malformed id reached the store"
    );

    // The counter counts: a well-formed unknown id is looked up in the shared store.
    let (status, _) = server
        .get_json("/v1/tryons/0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(status, 404);
    assert!(
        store.calls_of(&PER_TASK) > 0,
        "a well-formed id is asked of the store"
    );
}
