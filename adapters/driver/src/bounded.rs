//! [`Bounded`]: tasks spawned at most so many at once (handler calls, transaction checks).

use std::future::Future;

use futures::channel::mpsc;
use futures::StreamExt;

use crate::runtime::Runtime;

/// Spawns tasks on a runtime, at most `limit` running at once.
pub(crate) struct Bounded {
    limit: usize,
    running: usize,
    done_tx: mpsc::UnboundedSender<()>,
    done_rx: mpsc::UnboundedReceiver<()>,
}

/// Tells the [`Bounded`] that its task ended, also when it panicked.
struct Done(mpsc::UnboundedSender<()>);

impl Drop for Done {
    fn drop(&mut self) {
        let _ = self.0.unbounded_send(());
    }
}

impl Bounded {
    /// At most `limit` tasks at once (0 is taken as 1).
    pub(crate) fn new(limit: usize) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded();
        Self {
            limit: limit.max(1),
            running: 0,
            done_tx,
            done_rx,
        }
    }

    /// Waits until fewer than `limit` tasks run, then spawns `task` on `rt`.
    pub(crate) async fn spawn(
        &mut self,
        rt: &dyn Runtime,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        while self.done_rx.try_recv().is_ok() {
            self.running -= 1;
        }
        while self.running >= self.limit {
            // Never `None`: we hold a sender.
            if self.done_rx.next().await.is_some() {
                self.running -= 1;
            }
        }
        self.running += 1;
        let done = Done(self.done_tx.clone());
        rt.spawn(Box::pin(async move {
            let _done = done;
            task.await;
        }));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::connection::Connection;
    use crate::park::{block_on, sleep_until};
    use crate::runtime::BoxFuture;

    /// Every task on a thread of its own.
    #[derive(Debug)]
    struct ThreadPerTask;

    impl Runtime for ThreadPerTask {
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn open(&self, _: Connection) {}
        fn timer(&self, at: Instant) -> BoxFuture<()> {
            Box::pin(sleep_until(at))
        }
        fn spawn(&self, future: BoxFuture<()>) {
            thread::spawn(move || block_on(future));
        }
    }

    #[test]
    fn at_most_limit_tasks_run_at_once_and_a_panicking_one_frees_its_slot() {
        let (running, most, ended) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let mut tasks = Bounded::new(3);
        block_on(async {
            for i in 0..12 {
                let (running, most, ended) = (running.clone(), most.clone(), ended.clone());
                let task = async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // The first three end only once all three run: the limit is reached.
                    let give_up = Instant::now() + Duration::from_secs(10);
                    while i < 3 && running.load(Ordering::SeqCst) < 3 {
                        assert!(Instant::now() < give_up, "three tasks run at once");
                        sleep_until(Instant::now() + Duration::from_millis(1)).await;
                    }
                    sleep_until(Instant::now() + Duration::from_millis(2)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    ended.fetch_add(1, Ordering::SeqCst);
                    assert!(i % 4 != 0, "task {i} panics");
                };
                tasks.spawn(&ThreadPerTask, task).await;
            }
        });
        let give_up = Instant::now() + Duration::from_secs(10);
        while ended.load(Ordering::SeqCst) < 12 {
            assert!(Instant::now() < give_up, "every task ran");
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
