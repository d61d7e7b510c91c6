//! Notices between instances on their own channels (`{prefix}notice:{topic}`), apart from the
//! task events: a vendor webhook lands on whichever instance the load balancer picked, and
//! the instance driving its task must hear of it at once (issue 13).
//!
//! A notice is fire-and-forget (Redis pub/sub): one sent while a watcher is reconnecting is
//! lost, so notices only make things happen sooner; whoever needs the information for sure
//! also stores it (e.g. with [`Store::cache_put`](super::Store::cache_put)).

use std::sync::Weak;
use std::time::Duration;

use super::{RedisStore, StoreError, TIMEOUT};

/// Pause before subscribing again after the connection was lost.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

impl RedisStore {
    fn notice_channel(&self, topic: &str) -> String {
        self.global(&format!("notice:{topic}"))
    }

    pub(super) fn publish_notice(&self, topic: &str, message: &str) -> Result<(), StoreError> {
        let channel = self.notice_channel(topic);
        self.with(|connection| {
            ::redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(message)
                .query::<i64>(connection)
                .map(drop)
        })
    }

    pub(super) fn watch_notices(&self, topic: &str, listener: Weak<dyn Fn(&str) + Send + Sync>) {
        let client = self.client.clone();
        let channel = self.notice_channel(topic);
        std::thread::Builder::new()
            .name("tryon-redis-notices".into())
            .spawn(move || watch(client, channel, listener))
            .expect("spawn the Redis notice watcher");
    }
}

/// Hands every notice on `channel` to the listener until it is gone, resubscribing after
/// any failure.
fn watch(client: ::redis::Client, channel: String, listener: Weak<dyn Fn(&str) + Send + Sync>) {
    while listener.strong_count() > 0 {
        let subscribed = client
            .get_connection_with_timeout(TIMEOUT)
            .and_then(|mut connection| {
                connection.set_write_timeout(Some(TIMEOUT))?;
                let mut pubsub = connection.as_pubsub();
                pubsub.subscribe(&channel)?;
                // Wakes up now and then to notice a listener that is gone.
                pubsub.set_read_timeout(Some(TIMEOUT))?;
                loop {
                    let message = match pubsub.get_message() {
                        Ok(message) => message,
                        Err(error) if error.is_timeout() => {
                            if listener.strong_count() == 0 {
                                return Ok(());
                            }
                            continue;
                        }
                        Err(error) => return Err(error),
                    };
                    let Some(listener) = listener.upgrade() else {
                        return Ok(());
                    };
                    if let Ok(text) = message.get_payload::<String>() {
                        listener(&text);
                    }
                }
            });
        if let Err(error) = subscribed {
            tracing::warn!(%error, "Redis notice subscription lost; resubscribing");
            std::thread::sleep(RECONNECT_PAUSE);
        }
    }
}
