//! [`Threads`]: the shared driver's [`Runtime`] on std threads. Each spawned future runs on a
//! thread of its own, blocked on with the driver's thread parker (so a timer is a deadline of
//! that parked thread); each connection runs on threads of its own ([`crate::socket`]).

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rocketwire_driver::{block_on, sleep_until, BoxFuture, Connection, Runtime};

/// How long a thread that finished its job waits for another one before it ends.
const IDLE: Duration = Duration::from_secs(10);

/// What a thread runs: a future to block on, or a connection.
type Job = Box<dyn FnOnce() + Send>;

/// A cached pool of threads running one job at a time: a job goes straight to the thread
/// that went idle last (its caches are warm), else to a new one.
///
/// Each idle thread waits on a slot of its own, so handing a job over wakes exactly that
/// thread, and the woken thread never contends for a lock shared with the others (with one
/// shared queue and condvar, a third of the blocking consumer's context switches were
/// woken threads queuing for that queue's mutex).
#[derive(Clone, Default)]
pub(crate) struct Threads(Arc<Mutex<Vec<Arc<Slot>>>>);

/// Where an idle thread waits for its next job.
#[derive(Default)]
struct Slot {
    job: Mutex<Option<Job>>,
    handed: Condvar,
}

impl fmt::Debug for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Threads").finish_non_exhaustive()
    }
}

impl Runtime for Threads {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn open(&self, connection: Connection) {
        self.run(Box::new(move || crate::socket::run(connection)));
    }

    fn timer(&self, at: Instant) -> BoxFuture<()> {
        Box::pin(sleep_until(at))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        self.run(Box::new(move || block_on(future)));
    }
}

impl Threads {
    fn run(&self, job: Job) {
        let idle = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        if let Some(slot) = idle {
            *slot.job.lock().unwrap_or_else(PoisonError::into_inner) = Some(job);
            slot.handed.notify_one();
            return;
        }
        let threads = self.clone();
        let started = thread::Builder::new()
            .name("rocketwire".into())
            .spawn(move || threads.work(job));
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start a thread: a driver job is dropped");
        }
    }

    /// Runs `job`, then every job handed to this thread, until none came for [`IDLE`].
    fn work(&self, mut job: Job) {
        let slot = Arc::new(Slot::default());
        loop {
            job();
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Arc::clone(&slot));
            let mut handed = slot.job.lock().unwrap_or_else(PoisonError::into_inner);
            job = loop {
                if let Some(next) = handed.take() {
                    break next;
                }
                let (guard, wait) = slot
                    .handed
                    .wait_timeout(handed, IDLE)
                    .unwrap_or_else(PoisonError::into_inner);
                handed = guard;
                if wait.timed_out() && handed.is_none() && self.leave(&slot) {
                    return;
                }
                // Not in the idle list any more: a job is on its way to this slot.
            };
        }
    }

    /// Takes `slot` out of the idle list; false when `run` took it first (and is handing it
    /// a job).
    fn leave(&self, slot: &Arc<Slot>) -> bool {
        let mut idle = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match idle.iter().position(|s| Arc::ptr_eq(s, slot)) {
            Some(at) => {
                idle.remove(at);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use futures::channel::oneshot;

    use super::*;

    fn waiting(threads: &Threads) -> usize {
        threads.0.lock().unwrap().len()
    }

    /// Waits until `n` threads wait for a job.
    fn until_waiting(threads: &Threads, n: usize, patience: Duration) {
        let give_up = Instant::now() + patience;
        while waiting(threads) < n {
            assert!(Instant::now() < give_up, "{n} threads wait for a job");
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn jobs_run_at_once_and_a_finished_thread_takes_the_next() {
        let threads = Threads::default();
        let (ran, done) = mpsc::channel();
        // The first job waits for the second: both need a thread at once.
        let (tx, rx) = oneshot::channel::<()>();
        let first = ran.clone();
        threads.spawn(Box::pin(async move {
            let _ = rx.await;
            let _ = first.send(thread::current().id());
        }));
        let second = ran.clone();
        threads.spawn(Box::pin(async move {
            let _ = tx.send(());
            let _ = second.send(thread::current().id());
        }));
        let wait = Duration::from_secs(10);
        let ids = [
            done.recv_timeout(wait).unwrap(),
            done.recv_timeout(wait).unwrap(),
        ];
        assert_ne!(ids[0], ids[1]);
        until_waiting(&threads, 2, wait);
        threads.spawn(Box::pin(async move {
            let _ = ran.send(thread::current().id());
        }));
        assert!(ids.contains(&done.recv_timeout(wait).unwrap()));
        until_waiting(&threads, 2, wait);
    }

    #[test]
    fn a_job_goes_to_the_thread_that_went_idle_last() {
        let threads = Threads::default();
        let (ran, done) = mpsc::channel();
        let wait = Duration::from_secs(10);
        // Two jobs at once, so two threads; the first released goes idle first.
        let (release_first, first_released) = oneshot::channel::<()>();
        let (release_second, second_released) = oneshot::channel::<()>();
        let first = ran.clone();
        threads.spawn(Box::pin(async move {
            let _ = first_released.await;
            let _ = first.send(thread::current().id());
        }));
        let second = ran.clone();
        threads.spawn(Box::pin(async move {
            let _ = second_released.await;
            let _ = second.send(thread::current().id());
        }));
        let _ = release_first.send(());
        let first_id = done.recv_timeout(wait).unwrap();
        until_waiting(&threads, 1, wait);
        let _ = release_second.send(());
        let second_id = done.recv_timeout(wait).unwrap();
        assert_ne!(first_id, second_id);
        until_waiting(&threads, 2, wait);
        threads.spawn(Box::pin(async move {
            let _ = ran.send(thread::current().id());
        }));
        assert_eq!(done.recv_timeout(wait).unwrap(), second_id);
        until_waiting(&threads, 2, wait);
    }
}
