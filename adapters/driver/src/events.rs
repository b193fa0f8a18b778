//! The client's event stream ([`Client::events`](crate::Client::events)): connections
//! opened, failed and lost, brokers isolated and restored, routes changed. The core notices
//! them ([`ClientCore::poll_notice`](rocketwire_core::ClientCore::poll_notice)); the shell
//! fans them out to every subscriber.
//!
//! Each subscriber has a bounded buffer of [`EVENTS_CAPACITY`]: one that does not keep up
//! loses the events that do not fit, and gets [`ClientNotice::Missed`] with their count once
//! there is room again. A subscriber never slows the client down.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use rocketwire_core::{ClientNotice, InvokeError};

use crate::observe;

/// How many events wait at most for a subscriber.
pub const EVENTS_CAPACITY: usize = 256;

/// A subscription to the client's events; ends when the client has shut down.
#[derive(Debug)]
pub struct ClientEvents {
    rx: mpsc::Receiver<ClientNotice>,
}

impl ClientEvents {
    /// A subscription and the shell's end of it.
    pub(crate) fn channel() -> (Subscriber, Self) {
        let (tx, rx) = mpsc::channel(EVENTS_CAPACITY);
        (Subscriber { tx, missed: 0 }, Self { rx })
    }

    /// The next event; `None` once the client has shut down.
    pub async fn next_event(&mut self) -> Option<ClientNotice> {
        self.rx.next().await
    }

    /// The next event if one is waiting (`Ok(None)`: the client has shut down; `Err`: none
    /// yet).
    pub fn try_next_event(&mut self) -> Result<Option<ClientNotice>, NoEvent> {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        match self.rx.poll_next_unpin(&mut cx) {
            Poll::Ready(event) => Ok(event),
            Poll::Pending => Err(NoEvent),
        }
    }
}

/// No event is waiting ([`ClientEvents::try_next_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no client event is waiting")]
pub struct NoEvent;

impl Stream for ClientEvents {
    type Item = ClientNotice;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientNotice>> {
        self.rx.poll_next_unpin(cx)
    }
}

/// The shell's end of one subscription.
#[derive(Debug)]
pub struct Subscriber {
    tx: mpsc::Sender<ClientNotice>,
    /// Events that did not fit since the last one that did.
    missed: u64,
}

impl Subscriber {
    /// Hands `notice` over; `false` once the subscriber is gone.
    fn offer(&mut self, notice: &ClientNotice) -> bool {
        if self.missed > 0 {
            let missed = ClientNotice::Missed { count: self.missed };
            match self.tx.try_send(missed) {
                Ok(()) => self.missed = 0,
                Err(e) if e.is_disconnected() => return false,
                Err(_) => {
                    self.missed += 1;
                    return true;
                }
            }
        }
        match self.tx.try_send(notice.clone()) {
            Ok(()) => true,
            Err(e) if e.is_disconnected() => false,
            Err(_) => {
                self.missed += 1;
                true
            }
        }
    }
}

/// The subscribers, and what the reconnect metric needs to know.
#[derive(Debug, Default)]
pub(crate) struct EventHub {
    subscribers: Vec<Subscriber>,
    /// Peers whose connection was lost (not closed by the client) and not opened again.
    lost: HashSet<String>,
}

impl EventHub {
    pub(crate) fn subscribe(&mut self, subscriber: Subscriber) {
        self.subscribers.push(subscriber);
    }

    /// One notice of the core: counted, then offered to every subscriber.
    pub(crate) fn publish(&mut self, notice: ClientNotice) {
        match &notice {
            ClientNotice::Connected { peer } if self.lost.remove(peer) => {
                observe::reconnected(peer);
            }
            ClientNotice::Disconnected { peer, error } if *error != InvokeError::Shutdown => {
                self.lost.insert(peer.clone());
            }
            _ => {}
        }
        self.subscribers.retain_mut(|s| s.offer(&notice));
    }

    /// The client has shut down: every subscription ends.
    pub(crate) fn close(&mut self) {
        self.subscribers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restored(i: usize) -> ClientNotice {
        ClientNotice::BrokerRestored {
            broker: i.to_string(),
        }
    }

    #[test]
    fn a_slow_subscriber_is_told_what_it_missed_and_a_gone_one_is_dropped() {
        let mut hub = EventHub::default();
        let (sub, mut events) = ClientEvents::channel();
        hub.subscribe(sub);
        let (gone, dropped) = ClientEvents::channel();
        hub.subscribe(gone);
        drop(dropped);
        // The channel holds its capacity plus one per sender.
        let fits = EVENTS_CAPACITY + 1;
        for i in 0..fits + 5 {
            hub.publish(restored(i));
        }
        assert_eq!(hub.subscribers.len(), 1, "the dropped subscription is gone");
        for i in 0..fits {
            assert_eq!(events.try_next_event(), Ok(Some(restored(i))));
        }
        assert_eq!(events.try_next_event(), Err(NoEvent));
        hub.publish(restored(1000));
        assert_eq!(
            events.try_next_event(),
            Ok(Some(ClientNotice::Missed { count: 5 }))
        );
        assert_eq!(events.try_next_event(), Ok(Some(restored(1000))));
        hub.close();
        assert_eq!(events.try_next_event(), Ok(None));
    }
}
