//! "Remember my photo on this device": the prepared photo kept in this browser's IndexedDB.
//!
//! Only after the shopper ticked the box, only the prepared JPEG (no metadata, already sized
//! for upload), never on a server. Forgetting deletes the whole database, so nothing of ours is
//! left in the browser. Reading never creates the database: a shopper who never opted in has
//! no trace of the widget in her storage.
//!
//! IndexedDB speaks in request objects with `success`/`error` callbacks; each request is turned
//! into a promise whose `resolve`/`reject` are the callbacks themselves, so no Rust closure has
//! to outlive the call. Connections close on drop, because an open connection blocks
//! `deleteDatabase`.

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use crate::dom;
use crate::state::PhotoFacts;

const DATABASE: &str = "tryon-widget";
const STORE: &str = "photo";
const KEY: &str = "person";

/// A remembered photo: the prepared JPEG and what it is.
pub struct StoredPhoto {
    pub jpeg: Blob,
    pub facts: PhotoFacts,
}

/// The remembered photo, if the shopper opted in on an earlier visit.
pub async fn load() -> Option<StoredPhoto> {
    let factory = factory()?;
    if !exists(&factory).await {
        return None;
    }
    let db = Connection::open(&factory).await.ok()?;
    let store =
        db.0.transaction_with_str(STORE)
            .ok()?
            .object_store(STORE)
            .ok()?;
    let value = settle(&store.get(&KEY.into()).ok()?).await.ok()?;
    let jpeg = dom::field::<Blob>(&value, "jpeg")?;
    let facts = PhotoFacts {
        bytes: jpeg.size() as u64,
        width: dom::number(&value, "width")? as u32,
        height: dom::number(&value, "height")? as u32,
    };
    Some(StoredPhoto { jpeg, facts })
}

/// Keeps `jpeg` on this device, replacing any photo kept before.
pub async fn save(jpeg: &Blob, facts: PhotoFacts) -> Result<(), JsValue> {
    let factory = factory().ok_or_else(|| JsValue::from_str("no IndexedDB"))?;
    let db = Connection::open(&factory).await?;
    let transaction =
        db.0.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)?;
    let record = Object::new();
    Reflect::set(&record, &"jpeg".into(), jpeg)?;
    Reflect::set(&record, &"width".into(), &facts.width.into())?;
    Reflect::set(&record, &"height".into(), &facts.height.into())?;
    transaction
        .object_store(STORE)?
        .put_with_key(&record, &KEY.into())?;
    // Done only when the transaction has committed, not when the put was queued.
    JsFuture::from(Promise::new(&mut |resolve, reject| {
        transaction.set_oncomplete(Some(&resolve));
        transaction.set_onerror(Some(&reject));
        transaction.set_onabort(Some(&reject));
    }))
    .await
    .map(drop)
}

/// Deletes the database, and with it the photo.
pub async fn forget() -> Result<(), JsValue> {
    let factory = factory().ok_or_else(|| JsValue::from_str("no IndexedDB"))?;
    let request = factory.delete_database(DATABASE)?;
    settle(&request).await.map(drop)
}

fn factory() -> Option<IdbFactory> {
    web_sys::window()?.indexed_db().ok().flatten()
}

/// Whether our database exists, asked without opening it (opening creates it). Browsers without
/// `indexedDB.databases()` are answered "maybe", and the caller opens it.
async fn exists(factory: &IdbFactory) -> bool {
    let Some(databases) = dom::field::<Function>(factory, "databases") else {
        return true;
    };
    let Some(promise) = databases
        .call0(factory)
        .ok()
        .and_then(|p| p.dyn_into::<Promise>().ok())
    else {
        return true;
    };
    let Ok(list) = JsFuture::from(promise).await else {
        return true;
    };
    Array::from(&list)
        .iter()
        .any(|entry| dom::string(&entry, "name").as_deref() == Some(DATABASE))
}

/// An open connection, closed on drop.
struct Connection(IdbDatabase);

impl Connection {
    async fn open(factory: &IdbFactory) -> Result<Self, JsValue> {
        let request: IdbOpenDbRequest = factory.open_with_u32(DATABASE, 1)?;
        // Runs only when the database is new: give it its one store.
        let upgrade = Closure::once(move |event: web_sys::Event| {
            let created = event
                .target()
                .and_then(|t| t.dyn_into::<IdbRequest>().ok())
                .and_then(|r| r.result().ok())
                .and_then(|db| db.dyn_into::<IdbDatabase>().ok());
            if let Some(db) = created {
                let _ = db.create_object_store(STORE);
            }
        });
        request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let opened = settle(&request).await;
        request.set_onupgradeneeded(None);
        Ok(Self(opened?.dyn_into()?))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Waits for `request` and returns its result.
async fn settle(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let outcome = JsFuture::from(Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    }))
    .await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    outcome?;
    request.result()
}
