//! [`Bounded`]: tasks run at most so many at once (handler calls, transaction checks), by
//! workers that take one queued task after another.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::FutureExt;

use crate::runtime::{BoxFuture, Runtime};

/// Runs tasks on a runtime, at most `limit` at once, in the order given.
///
/// Tasks wait in one queue; a worker (a task spawned on the runtime) takes one after another
/// until the queue is empty, then ends. A worker that takes a task while tasks still wait and
/// no other worker is free starts another one, up to `limit`. So slow tasks soon run `limit`
/// at once, while a burst of quick ones is run by the one or two workers that keep up with
/// it: on a runtime where each task is a thread's job, a thread hand-off per task was most
/// of a blocking consumer's cost.
pub(crate) struct Bounded {
    rt: Arc<dyn Runtime>,
    backlog: Arc<Mutex<Backlog>>,
}

/// The queued tasks and the workers, under one lock.
struct Backlog {
    limit: usize,
    queue: VecDeque<BoxFuture<()>>,
    /// Workers spawned and not yet ended.
    workers: usize,
    /// Workers running a task (the others are about to take one, or to end).
    busy: usize,
}

impl Backlog {
    fn lock(backlog: &Mutex<Backlog>) -> std::sync::MutexGuard<'_, Backlog> {
        backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a task waits with no free worker to take it, and another worker may start
    /// (counted as started).
    fn start_worker(&mut self) -> bool {
        let free = self.workers - self.busy;
        let start = !self.queue.is_empty() && free == 0 && self.workers < self.limit;
        if start {
            self.workers += 1;
        }
        start
    }
}

impl Bounded {
    /// At most `limit` tasks at once on `rt` (0 is taken as 1).
    pub(crate) fn new(rt: Arc<dyn Runtime>, limit: usize) -> Self {
        let backlog = Backlog {
            limit: limit.max(1),
            queue: VecDeque::new(),
            workers: 0,
            busy: 0,
        };
        Self {
            rt,
            backlog: Arc::new(Mutex::new(backlog)),
        }
    }

    /// Queues `task`; it runs once a worker is free, after the tasks queued before it.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.queue(task);
        self.start();
    }

    /// Queues `task` without starting a worker for it: [`Bounded::start`] does, after a
    /// burst of tasks.
    pub(crate) fn queue(&self, task: impl Future<Output = ()> + Send + 'static) {
        Backlog::lock(&self.backlog).queue.push_back(Box::pin(task));
    }

    /// Starts a worker if tasks wait and none is free to take them.
    pub(crate) fn start(&self) {
        if Backlog::lock(&self.backlog).start_worker() {
            spawn_worker(&self.rt, &self.backlog);
        }
    }
}

fn spawn_worker(rt: &Arc<dyn Runtime>, backlog: &Arc<Mutex<Backlog>>) {
    let worker = Worker {
        backlog: backlog.clone(),
        busy: false,
        ended: false,
    };
    rt.spawn(Box::pin(work(rt.clone(), worker)));
}

/// Takes queued tasks one after another until none is left. A task that panics ends alone.
async fn work(rt: Arc<dyn Runtime>, mut worker: Worker) {
    let mut ran = 0usize;
    loop {
        let (task, start) = {
            let mut guard = Backlog::lock(&worker.backlog);
            let Some(task) = guard.queue.pop_front() else {
                // In the same lock as the empty queue: a task queued after this starts a
                // worker of its own.
                guard.workers -= 1;
                worker.ended = true;
                return;
            };
            guard.busy += 1;
            worker.busy = true;
            (task, guard.start_worker())
        };
        if start {
            spawn_worker(&rt, &worker.backlog);
        }
        let _ = AssertUnwindSafe(task).catch_unwind().await;
        Backlog::lock(&worker.backlog).busy -= 1;
        worker.busy = false;
        ran += 1;
        if ran % TASKS_PER_YIELD == 0 {
            // Lets the runtime's other tasks (the driver on a one-thread runtime) in between.
            YieldNow(false).await;
        }
    }
}

/// Tasks a worker runs before it lets the runtime's other tasks in. Yielding after each one
/// gave the handlers of a consumer on a one-thread runtime too few turns beside the driver,
/// whose cache then filled up to its limits.
const TASKS_PER_YIELD: usize = 16;

/// A worker's share of the counts, given back also when the runtime drops it unfinished.
struct Worker {
    backlog: Arc<Mutex<Backlog>>,
    busy: bool,
    ended: bool,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut backlog = Backlog::lock(&self.backlog);
        backlog.workers -= 1;
        if self.busy {
            backlog.busy -= 1;
        }
    }
}

/// Pending once, woken at once.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use std::task::Context;

    use super::*;
    use crate::connection::Connection;
    use crate::park::{block_on, sleep_until};

    /// Runs every task on a thread of its own, or, when `held`, keeps them for the test to
    /// run (or drop) when it likes.
    #[derive(Default)]
    struct TestRuntime {
        held: Option<Mutex<Vec<BoxFuture<()>>>>,
    }

    impl TestRuntime {
        fn held() -> Arc<Self> {
            Arc::new(Self {
                held: Some(Mutex::default()),
            })
        }

        fn take(&self) -> Vec<BoxFuture<()>> {
            let held = self.held.as_ref().expect("a holding runtime");
            std::mem::take(&mut *held.lock().unwrap())
        }
    }

    impl std::fmt::Debug for TestRuntime {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("TestRuntime")
        }
    }

    impl Runtime for TestRuntime {
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn open(&self, _: Connection) {}
        fn timer(&self, at: Instant) -> BoxFuture<()> {
            Box::pin(sleep_until(at))
        }
        fn spawn(&self, future: BoxFuture<()>) {
            match &self.held {
                Some(held) => held.lock().unwrap().push(future),
                None => drop(thread::spawn(move || block_on(future))),
            }
        }
    }

    fn counts(tasks: &Bounded) -> (usize, usize, usize) {
        let backlog = Backlog::lock(&tasks.backlog);
        (backlog.queue.len(), backlog.workers, backlog.busy)
    }

    #[test]
    fn slow_tasks_run_limit_at_once_and_a_panicking_one_ends_alone() {
        let (running, most, ended) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let tasks = Bounded::new(Arc::new(TestRuntime::default()), 3);
        for i in 0..12 {
            let (running, most, ended) = (running.clone(), most.clone(), ended.clone());
            tasks.spawn(async move {
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
            });
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        while ended.load(Ordering::SeqCst) < 12 || counts(&tasks).1 > 0 {
            assert!(
                Instant::now() < give_up,
                "every task ran and every worker ended"
            );
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(counts(&tasks), (0, 0, 0));
    }

    #[test]
    fn a_burst_of_quick_tasks_runs_in_order_on_the_workers_that_keep_up() {
        let held = TestRuntime::held();
        let tasks = Bounded::new(held.clone(), 4);
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..10 {
            let order = order.clone();
            tasks.spawn(async move { order.lock().unwrap().push(i) });
        }
        // One worker for the whole burst so far: it is not busy yet.
        let first = held.take();
        assert_eq!(first.len(), 1);
        assert_eq!(counts(&tasks), (10, 1, 0));
        // Busy with the first task and nobody free: it starts a second worker, then takes
        // the rest itself while the second has not run yet.
        first.into_iter().for_each(block_on);
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
        let second = held.take();
        assert_eq!(second.len(), 1);
        assert_eq!(counts(&tasks), (0, 1, 0));
        // The second finds nothing left and ends.
        second.into_iter().for_each(block_on);
        assert_eq!(counts(&tasks), (0, 0, 0));
        assert!(held.take().is_empty());
    }

    #[test]
    fn a_worker_lets_other_tasks_in_after_so_many_of_its_own() {
        let held = TestRuntime::held();
        let tasks = Bounded::new(held.clone(), 1);
        let ran = Arc::new(AtomicUsize::new(0));
        let n = 2 * TASKS_PER_YIELD + 1;
        for _ in 0..n {
            let ran = ran.clone();
            tasks.spawn(async move {
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
        let mut worker = held.take().pop().expect("a worker");
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut yields = 0;
        while worker.as_mut().poll(&mut cx).is_pending() {
            yields += 1;
            assert_eq!(ran.load(Ordering::SeqCst), yields * TASKS_PER_YIELD);
        }
        assert_eq!((yields, ran.load(Ordering::SeqCst)), (2, n));
    }

    #[test]
    fn a_worker_dropped_unrun_gives_its_place_back() {
        let held = TestRuntime::held();
        let tasks = Bounded::new(held.clone(), 1);
        let ran = Arc::new(AtomicUsize::new(0));
        let first = ran.clone();
        tasks.spawn(async move {
            first.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(counts(&tasks), (1, 1, 0));
        // E.g. a runtime shutting down, or no thread to run it on.
        drop(held.take());
        assert_eq!(counts(&tasks), (1, 0, 0));
        let second = ran.clone();
        tasks.spawn(async move {
            second.fetch_add(1, Ordering::SeqCst);
        });
        held.take().into_iter().for_each(block_on);
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert_eq!(counts(&tasks), (0, 0, 0));
    }
}
