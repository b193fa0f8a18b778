//! Waiting on futures from a plain thread: poll, park until woken, poll again. No executor is
//! entered, so these work inside any async runtime (at the price of blocking its thread).
//!
//! [`sleep_until`] is the timer of such threads: a pending one has the thread that polled it
//! wake by its deadline, the way a std loop waits with `recv_timeout(deadline - now)`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Instant;

thread_local! {
    /// The pending [`Sleep`]s of this thread's current wait.
    static SLEEPS: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

/// A [`Sleep`] polled by this thread and not yet due: whom to wake, and when.
struct Pending {
    sleep: u64,
    at: Instant,
    waker: Waker,
}

/// The id of the next [`Sleep`].
static NEXT_SLEEP: AtomicU64 = AtomicU64::new(0);

/// Wakes the thread that parked. The flag keeps a wake-up meant for this wait when a wait
/// nested inside the poll (a blocking call made by polled code) consumed the unpark.
struct Unpark {
    thread: thread::Thread,
    woken: AtomicBool,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Calls `poll` on the calling thread until it is ready, parking between wake-ups: `None` once
/// `deadline` passed first (never without a deadline). `poll` gets a [`Context`] whose waker
/// unparks this thread; whatever it polls is still usable after a `None`.
pub fn park_until<T>(
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
    deadline: Option<Instant>,
) -> Option<T> {
    let unpark = Arc::new(Unpark {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unpark.clone());
    let mut cx = Context::from_waker(&waker);
    // Called from inside a poll, the caller's sleeps wait for the caller's next wait.
    let callers = SLEEPS.take();
    let output = loop {
        if let Poll::Ready(output) = poll(&mut cx) {
            break Some(output);
        }
        if !wait(&unpark.woken, deadline) {
            break None;
        }
    };
    SLEEPS.set(callers);
    output
}

/// Parks until `woken` is set (then `true`) or `deadline` passes (then `false`), waking the
/// sleeps that fall due meanwhile.
fn wait(woken: &AtomicBool, deadline: Option<Instant>) -> bool {
    loop {
        let now = Instant::now();
        let (due, pending): (Vec<_>, Vec<_>) = SLEEPS.take().into_iter().partition(|p| p.at <= now);
        let next_sleep = pending.iter().map(|p| p.at).min();
        SLEEPS.set(pending);
        due.into_iter().for_each(|p| p.waker.wake());
        if woken.swap(false, Ordering::Acquire) {
            return true;
        }
        let wake_at = match (deadline, next_sleep) {
            (Some(d), _) if d <= now => return false,
            (Some(d), Some(s)) => Some(d.min(s)),
            (d, s) => d.or(s),
        };
        match wake_at {
            None => thread::park(),
            Some(at) => thread::park_timeout(at - now),
        }
    }
}

/// Runs `future` to completion on the calling thread, parking between wake-ups. No executor is
/// entered, so this works inside any async runtime (at the price of blocking its thread).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    loop {
        // Without a deadline `park_until` returns only once the future is ready.
        if let Some(output) = park_until(|cx| future.as_mut().poll(cx), None) {
            return output;
        }
    }
}

/// A timer for futures run by [`block_on`] or [`park_until`]: ready once `at` has passed.
/// While pending, the waiting thread wakes it at `at`; polled by another executor, it is never
/// woken.
pub fn sleep_until(at: Instant) -> Sleep {
    Sleep {
        id: NEXT_SLEEP.fetch_add(1, Ordering::Relaxed),
        at,
    }
}

/// The future of [`sleep_until`]. Dropping it forgets its deadline.
#[derive(Debug)]
#[must_use = "a timer does nothing unless polled"]
pub struct Sleep {
    id: u64,
    at: Instant,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        SLEEPS.with_borrow_mut(
            |sleeps| match sleeps.iter_mut().find(|p| p.sleep == self.id) {
                Some(pending) => pending.waker.clone_from(cx.waker()),
                None => sleeps.push(Pending {
                    sleep: self.id,
                    at: self.at,
                    waker: cx.waker().clone(),
                }),
            },
        );
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let _ = SLEEPS.try_with(|sleeps| {
            if let Ok(mut sleeps) = sleeps.try_borrow_mut() {
                sleeps.retain(|p| p.sleep != self.id);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::time::Duration;

    use futures::channel::oneshot;

    use super::*;

    #[test]
    fn park_until_gives_up_at_the_deadline_and_keeps_the_future() {
        let (tx, mut rx) = oneshot::channel::<u32>();
        let start = Instant::now();
        let deadline = start + Duration::from_millis(50);
        let r = park_until(|cx| Pin::new(&mut rx).poll(cx), Some(deadline));
        assert_eq!(r, None);
        assert!(start.elapsed() >= Duration::from_millis(50));
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(7)
        });
        let far = Instant::now() + Duration::from_secs(10);
        let r = park_until(|cx| Pin::new(&mut rx).poll(cx), Some(far));
        assert_eq!(
            r,
            Some(Ok(7)),
            "woken by the send, long before the deadline"
        );
        assert!(sender.join().expect("thread").is_ok());
    }

    #[test]
    fn block_on_waits_for_a_wake_up() {
        let (tx, rx) = oneshot::channel::<u32>();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(3)
        });
        assert_eq!(block_on(rx), Ok(3));
        assert!(sender.join().expect("thread").is_ok());
    }

    #[test]
    fn sleep_until_wakes_the_waiting_thread_at_its_deadline() {
        let start = Instant::now();
        block_on(sleep_until(start + Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
        // Inside a combinator that polls only the futures that were woken.
        let mut sleeps: futures::stream::FuturesUnordered<Sleep> = (1..=3)
            .map(|i| sleep_until(Instant::now() + Duration::from_millis(10 * i)))
            .collect();
        let done = block_on(async {
            let mut done = 0;
            while futures::StreamExt::next(&mut sleeps).await.is_some() {
                done += 1;
            }
            done
        });
        assert_eq!(done, 3);
    }

    #[test]
    fn a_wait_nested_in_a_poll_keeps_the_outer_wake_up() {
        let (tx, mut rx) = oneshot::channel::<u32>();
        let mut tx = Some(tx);
        let start = Instant::now();
        let r = park_until(
            |cx| {
                let polled = Pin::new(&mut rx).poll(cx);
                if let Some(tx) = tx.take() {
                    // The wake-up comes while a nested wait parks this thread.
                    let sender = thread::spawn(move || tx.send(5));
                    block_on(sleep_until(Instant::now() + Duration::from_millis(20)));
                    assert!(sender.join().expect("thread").is_ok());
                }
                polled
            },
            Some(start + Duration::from_secs(10)),
        );
        assert_eq!(r, Some(Ok(5)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "woken, not timed out"
        );
    }

    #[test]
    fn a_wait_nested_in_a_poll_keeps_the_outer_sleeps() {
        let start = Instant::now();
        let mut outer = sleep_until(start + Duration::from_millis(40));
        let mut first = true;
        let r = park_until(
            |cx| {
                let polled = Pin::new(&mut outer).poll(cx);
                if std::mem::take(&mut first) {
                    block_on(sleep_until(Instant::now() + Duration::from_millis(10)));
                }
                polled
            },
            Some(start + Duration::from_secs(10)),
        );
        assert_eq!(r, Some(()));
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(40) && elapsed < Duration::from_secs(5));
    }

    #[test]
    fn a_sleep_is_listed_once_and_forgotten_when_dropped() {
        let far = Instant::now() + Duration::from_secs(60);
        let listed = block_on(futures::future::poll_fn(|cx| {
            for i in 0..1000 {
                let mut replaced = sleep_until(far + Duration::from_millis(i));
                assert!(Pin::new(&mut replaced).poll(cx).is_pending());
            }
            let mut kept = sleep_until(far);
            assert!(Pin::new(&mut kept).poll(cx).is_pending());
            assert!(Pin::new(&mut kept).poll(cx).is_pending());
            Poll::Ready(SLEEPS.with_borrow(Vec::len))
        }));
        assert_eq!(listed, 1, "only the live sleep, once");
    }
}
