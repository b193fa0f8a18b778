//! Bounds on in-flight sends: a counter of sends and bytes shared by a client's handles.
//!
//! Every send takes a [`Permit`] before its command is handed to the driver; the permit travels
//! with the command and is released when the send's result comes back from the core, whatever
//! the caller did with its future or handle meanwhile. So the bound is on sends *inside the
//! client*, not on futures the caller still holds.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Limits on a client's in-flight sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerOptions {
    /// Most sends in flight at once (default 1024).
    pub max_in_flight: usize,
    /// Most body bytes in flight at once (default 64 MiB). One send larger than this is let
    /// through when nothing else is in flight, so it cannot wait forever.
    pub max_in_flight_bytes: usize,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            max_in_flight_bytes: 64 * 1024 * 1024,
        }
    }
}

impl ProducerOptions {
    /// Sets [`ProducerOptions::max_in_flight`] (0 is taken as 1).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sets [`ProducerOptions::max_in_flight_bytes`].
    pub fn with_max_in_flight_bytes(mut self, bytes: usize) -> Self {
        self.max_in_flight_bytes = bytes;
        self
    }
}

#[derive(Debug, Default)]
struct State {
    count: usize,
    bytes: usize,
    next_waiter: u64,
    waiters: HashMap<u64, Waker>,
}

/// The in-flight counter of one client (a semaphore over a count and a byte total).
#[derive(Debug)]
pub struct InFlight {
    limits: ProducerOptions,
    state: Mutex<State>,
}

impl InFlight {
    /// A counter with `limits`.
    pub fn new(limits: ProducerOptions) -> Arc<Self> {
        Arc::new(Self {
            limits: ProducerOptions {
                max_in_flight: limits.max_in_flight.max(1),
                ..limits
            },
            state: Mutex::new(State::default()),
        })
    }

    /// The limits.
    pub fn limits(&self) -> ProducerOptions {
        self.limits
    }

    /// Sends and bytes in flight now.
    pub fn in_flight(&self) -> (usize, usize) {
        let state = self.lock();
        (state.count, state.bytes)
    }

    /// A permit for one send of `bytes` body bytes if there is room now.
    pub fn try_acquire(self: &Arc<Self>, bytes: usize) -> Option<Permit> {
        let mut state = self.lock();
        self.take(&mut state, bytes)
    }

    /// Waits for room for one send of `bytes` body bytes.
    pub fn acquire(self: &Arc<Self>, bytes: usize) -> Acquire {
        Acquire {
            limiter: self.clone(),
            bytes,
            waiter: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(self: &Arc<Self>, state: &mut State, bytes: usize) -> Option<Permit> {
        let fits = state.count < self.limits.max_in_flight
            && (state.count == 0
                || state.bytes.saturating_add(bytes) <= self.limits.max_in_flight_bytes);
        if !fits {
            return None;
        }
        state.count += 1;
        state.bytes = state.bytes.saturating_add(bytes);
        Some(Permit {
            limiter: self.clone(),
            bytes,
        })
    }

    fn release(&self, bytes: usize) {
        let waiters: Vec<Waker> = {
            let mut state = self.lock();
            state.count = state.count.saturating_sub(1);
            state.bytes = state.bytes.saturating_sub(bytes);
            state.waiters.drain().map(|(_, w)| w).collect()
        };
        for waker in waiters {
            waker.wake();
        }
    }
}

/// Room for one send; released when dropped (by the driver, when the send's result arrives).
pub struct Permit {
    limiter: Arc<InFlight>,
    bytes: usize,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.release(self.bytes);
    }
}

/// The future of [`InFlight::acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Acquire {
    limiter: Arc<InFlight>,
    bytes: usize,
    waiter: Option<u64>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = self.get_mut();
        let limiter = this.limiter.clone();
        let mut state = limiter.lock();
        if let Some(permit) = limiter.take(&mut state, this.bytes) {
            if let Some(id) = this.waiter.take() {
                state.waiters.remove(&id);
            }
            return Poll::Ready(permit);
        }
        let id = match this.waiter {
            Some(id) => id,
            None => {
                let id = state.next_waiter;
                state.next_waiter = state.next_waiter.wrapping_add(1);
                this.waiter = Some(id);
                id
            }
        };
        state.waiters.insert(id, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.limiter.lock().waiters.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::park::block_on;

    #[test]
    fn counts_and_bytes_bound_permits() {
        let limiter = InFlight::new(
            ProducerOptions::default()
                .with_max_in_flight(2)
                .with_max_in_flight_bytes(100),
        );
        let a = limiter.try_acquire(60).expect("room");
        assert!(limiter.try_acquire(50).is_none(), "bytes full");
        let b = limiter.try_acquire(40).expect("room");
        assert!(limiter.try_acquire(0).is_none(), "count full");
        assert_eq!(limiter.in_flight(), (2, 100));
        drop(a);
        assert_eq!(limiter.in_flight(), (1, 40));
        drop(b);
        let big = limiter
            .try_acquire(1000)
            .expect("alone, an oversized send passes");
        assert!(limiter.try_acquire(1).is_none());
        drop(big);
        assert_eq!(limiter.in_flight(), (0, 0));
    }

    #[test]
    fn acquire_waits_for_a_release() {
        let limiter = InFlight::new(ProducerOptions::default().with_max_in_flight(1));
        let held = limiter.try_acquire(1).expect("room");
        let l = limiter.clone();
        let waiter = std::thread::spawn(move || block_on(l.acquire(1)));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished(), "waits while full");
        drop(held);
        let permit = waiter.join().expect("thread");
        assert_eq!(limiter.in_flight(), (1, 1));
        drop(permit);
        assert_eq!(limiter.in_flight(), (0, 0));
        assert!(limiter.lock().waiters.is_empty(), "no waker left behind");
    }
}
