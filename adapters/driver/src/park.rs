//! Waiting on futures from a plain thread: poll, park until woken, poll again. No executor is
//! entered, so these work inside any async runtime (at the price of blocking its thread).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Instant;

/// Wakes the thread that parked.
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Calls `poll` on the calling thread until it is ready, parking between wake-ups: `None` once
/// `deadline` passed first (never without a deadline). `poll` gets a [`Context`] whose waker
/// unparks this thread; whatever it polls is still usable after a `None`.
pub fn park_until<T>(
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
    deadline: Option<Instant>,
) -> Option<T> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = poll(&mut cx) {
            return Some(output);
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                thread::park_timeout(left);
            }
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
}
