//! A bounded line for CPU-heavy image work.
//!
//! Decoding is the most expensive thing a request can make the proxy do, so only a few decodes
//! run at once (two per core, imgproxy's default), and only a few more may wait. A request that
//! finds the line full is refused at once with 429 instead of queueing without bound, which
//! would turn a burst of uploads into memory growth and timeouts for everyone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// The line is full; the client should retry shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the image decoders are busy")]
pub struct Busy;

/// Runs blocking jobs with at most `workers` at once and at most `queue` waiting.
#[derive(Debug)]
pub struct DecodeGate {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

impl DecodeGate {
    pub fn new(workers: usize, queue: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(workers.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Two workers per core and as many waiting places.
    pub fn for_this_machine() -> Self {
        let workers = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(workers, workers)
    }

    /// Runs `job` on the blocking pool once a worker is free, or refuses when the line is full.
    /// A job that panicked comes back as `Ok(Err(JoinError))`.
    pub async fn run<T, F>(&self, job: F) -> Result<Result<T, tokio::task::JoinError>, Busy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => self.wait_in_line().await?,
        };
        Ok(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await)
    }

    async fn wait_in_line(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Busy> {
        let place = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = LeaveLine(&self.waiting);
        if place >= self.queue {
            return Err(Busy);
        }
        Ok(self
            .running
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed"))
    }
}

/// Gives the waiting place back however the wait ends (admitted, refused, or cancelled).
struct LeaveLine<'a>(&'a AtomicUsize);

impl Drop for LeaveLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_workers_and_the_queue_requests_are_refused() {
        let gate = Arc::new(DecodeGate::new(2, 1));
        let (release, blocked) = mpsc::channel::<()>();
        let blocked = Arc::new(std::sync::Mutex::new(blocked));
        let mut jobs = Vec::new();
        for _ in 0..3 {
            let (gate, blocked) = (gate.clone(), blocked.clone());
            jobs.push(tokio::spawn(async move {
                gate.run(move || {
                    blocked
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(10))
                        .is_ok()
                })
                .await
            }));
        }
        // Two jobs hold the workers and one waits; wait until that is the state.
        for _ in 0..200 {
            if gate.waiting.load(Ordering::SeqCst) == 1 && gate.running.available_permits() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            gate.run(|| true).await.err(),
            Some(Busy),
            "the fourth job finds the line full"
        );
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for job in jobs {
            assert!(
                job.await.unwrap().expect("admitted").expect("no panic"),
                "every admitted job ran"
            );
        }
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        assert_eq!(
            gate.run(|| 7).await.unwrap().unwrap(),
            7,
            "free again afterwards"
        );
    }
}
