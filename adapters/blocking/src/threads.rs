//! [`Threads`]: the shared driver's [`Runtime`] on std threads. Each spawned future runs on a
//! thread of its own, blocked on with the driver's thread parker (so a timer is a deadline of
//! that parked thread); each connection runs on threads of its own ([`crate::socket`]).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rocketwire_driver::{block_on, sleep_until, BoxFuture, Connection, Runtime};

/// How long a thread that finished its job waits for another one before it ends.
const IDLE: Duration = Duration::from_secs(10);

/// What a thread runs: a future to block on, or a connection.
type Job = Box<dyn FnOnce() + Send>;

/// A cached pool of threads running one job at a time: a job goes to a waiting thread, else
/// to a new one.
#[derive(Clone, Default)]
pub(crate) struct Threads(Arc<(Mutex<Idle>, Condvar)>);

/// The threads waiting for a job (but those a job was already handed to), and the jobs
/// handed to them.
#[derive(Default)]
struct Idle {
    waiting: usize,
    jobs: VecDeque<Job>,
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
        let (idle, handed) = &*self.0;
        let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.waiting > 0 {
            idle.waiting -= 1;
            idle.jobs.push_back(job);
            handed.notify_one();
            return;
        }
        drop(idle);
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
        let (idle, handed) = &*self.0;
        loop {
            job();
            let mut waiting = idle.lock().unwrap_or_else(PoisonError::into_inner);
            waiting.waiting += 1;
            job = loop {
                if let Some(next) = waiting.jobs.pop_front() {
                    break next;
                }
                let (guard, wait) = handed
                    .wait_timeout(waiting, IDLE)
                    .unwrap_or_else(PoisonError::into_inner);
                waiting = guard;
                if wait.timed_out() && waiting.jobs.is_empty() {
                    waiting.waiting -= 1;
                    return;
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use futures::channel::oneshot;

    use super::*;

    fn waiting(threads: &Threads) -> usize {
        threads.0 .0.lock().unwrap().waiting
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
        let both_wait = || {
            let give_up = Instant::now() + wait;
            while waiting(&threads) < 2 {
                assert!(Instant::now() < give_up, "both threads wait for a job");
                thread::sleep(Duration::from_millis(1));
            }
        };
        both_wait();
        threads.spawn(Box::pin(async move {
            let _ = ran.send(thread::current().id());
        }));
        assert!(ids.contains(&done.recv_timeout(wait).unwrap()));
        both_wait();
    }
}
