//! A group's hub: the messages its push consumer hands over, shared out to the group's
//! streams, each holding at most its window of unsettled deliveries.
//!
//! ```text
//! consumer handler ─ offer ─► queue ─ pump ─► stream (≤ window unsettled) ─► client
//!        ▲                      ▲                    │ ack / retry
//!        └──── outcome ◄────────┼──── settle ◄───────┘
//!                               └──── detach: a stream's unsettled go back to the queue front
//! ```
//!
//! A message is settled (its handler call answered) only by an ack (Success), a retry
//! (ReconsumeLater) or the hub closing (Abandon: not consumed, the offset stays before it).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rocketwire_core::message::MessageExt;
use rocketwire_core::ConsumeOutcome;
use tokio::sync::{mpsc, oneshot};

/// A delivery's id, unique within its hub (so within its stream).
pub(crate) type DeliveryId = u64;

/// A stream's id within its hub.
pub(crate) type StreamId = u64;

/// One message on its way to a stream.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) id: DeliveryId,
    pub(crate) message: MessageExt,
}

/// Why a settle was refused: the client named a delivery its stream does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivery {0} is not unsettled on this stream (never delivered, or already settled)")]
pub(crate) struct UnknownDelivery(pub(crate) DeliveryId);

struct Pending {
    message: MessageExt,
    settle: oneshot::Sender<ConsumeOutcome>,
}

impl Pending {
    fn settle(self, outcome: ConsumeOutcome) {
        // The handler call may be gone (its consumer closed): nothing waits then.
        let _ = self.settle.send(outcome);
    }
}

struct Slot {
    tx: mpsc::Sender<Delivery>,
    window: usize,
    out: BTreeMap<DeliveryId, Pending>,
}

#[derive(Default)]
struct State {
    streams: BTreeMap<StreamId, Slot>,
    queue: VecDeque<Pending>,
    next_delivery: DeliveryId,
    next_stream: StreamId,
    /// The stream served last (round robin starts after it).
    last_served: StreamId,
    /// Shutting down: nothing new is handed out, the unsettled may still be settled.
    draining: bool,
    closed: bool,
}

/// See the module docs.
pub(crate) struct Hub {
    /// The consumer group, for metrics.
    group: String,
    state: Mutex<State>,
}

/// `rocketwire_gateway_streams{group}`: streams attached.
pub const STREAMS: &str = "rocketwire_gateway_streams";
/// `rocketwire_gateway_deliveries_total{group}`: messages handed to a stream (again after a
/// stream ended included).
pub const DELIVERIES: &str = "rocketwire_gateway_deliveries_total";
/// `rocketwire_gateway_settled_total{group, outcome}`: deliveries settled by `ack`, `retry`
/// or `abandon` (the gateway closed the group's consumer first).
pub const SETTLED: &str = "rocketwire_gateway_settled_total";

impl Hub {
    pub(crate) fn new(group: &str) -> Self {
        Self {
            group: group.to_owned(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The consumer's handler hands `message` over; the receiver tells how it was settled.
    pub(crate) fn offer(&self, message: MessageExt) -> oneshot::Receiver<ConsumeOutcome> {
        let (settle, rx) = oneshot::channel();
        let pending = Pending { message, settle };
        let mut state = self.lock();
        if state.closed {
            pending.settle(ConsumeOutcome::Abandon);
        } else {
            state.queue.push_back(pending);
            state.pump(&self.group);
        }
        rx
    }

    /// A new stream with room for `window` unsettled deliveries; `None` once closed.
    pub(crate) fn attach(&self, window: usize) -> Option<(StreamId, mpsc::Receiver<Delivery>)> {
        let window = window.max(1);
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let (tx, rx) = mpsc::channel(window);
        state.next_stream += 1;
        let id = state.next_stream;
        state.streams.insert(
            id,
            Slot {
                tx,
                window,
                out: BTreeMap::new(),
            },
        );
        state.pump(&self.group);
        metrics::gauge!(STREAMS, "group" => self.group.clone()).increment(1.0);
        Some((id, rx))
    }

    /// Removes a stream (again: no effect). Its unsettled deliveries go to the front of the
    /// queue, in delivery order, for the other streams. Returns how many streams are left.
    pub(crate) fn detach(&self, stream: StreamId) -> usize {
        let mut state = self.lock();
        if let Some(slot) = state.streams.remove(&stream) {
            metrics::gauge!(STREAMS, "group" => self.group.clone()).decrement(1.0);
            for (_, pending) in slot.out.into_iter().rev() {
                state.queue.push_front(pending);
            }
            state.pump(&self.group);
        }
        state.streams.len()
    }

    /// Settles deliveries of `stream`. All ids are checked before any is settled.
    pub(crate) fn settle(
        &self,
        stream: StreamId,
        ids: &[DeliveryId],
        outcome: ConsumeOutcome,
    ) -> Result<(), UnknownDelivery> {
        let mut state = self.lock();
        let Some(slot) = state.streams.get_mut(&stream) else {
            return match ids.first() {
                Some(&id) => Err(UnknownDelivery(id)),
                None => Ok(()),
            };
        };
        let mut seen = std::collections::BTreeSet::new();
        if let Some(&id) = ids
            .iter()
            .find(|id| !slot.out.contains_key(id) || !seen.insert(**id))
        {
            return Err(UnknownDelivery(id));
        }
        for id in ids {
            if let Some(pending) = slot.out.remove(id) {
                pending.settle(outcome);
            }
        }
        let label = match outcome {
            ConsumeOutcome::Success => "ack",
            ConsumeOutcome::ReconsumeLater { .. } => "retry",
            _ => "abandon",
        };
        metrics::counter!(SETTLED, "group" => self.group.clone(), "outcome" => label)
            .increment(ids.len() as u64);
        state.pump(&self.group);
        Ok(())
    }

    /// Ends every stream and abandons every message held (not consumed: the consumer's
    /// offsets stay before them). Offers after this are abandoned at once.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let streams = std::mem::take(&mut state.streams);
        let group = self.group.clone();
        metrics::gauge!(STREAMS, "group" => group.clone()).decrement(streams.len() as f64);
        let mut abandoned = 0;
        for (_, slot) in streams {
            abandoned += slot.out.len();
            for (_, pending) in slot.out {
                pending.settle(ConsumeOutcome::Abandon);
            }
        }
        metrics::counter!(SETTLED, "group" => group, "outcome" => "abandon")
            .increment(abandoned as u64);
        for pending in state.queue.drain(..) {
            pending.settle(ConsumeOutcome::Abandon);
        }
    }

    /// Stops handing out messages (a graceful shutdown lets the streams settle what they
    /// hold first). Returns how many deliveries are unsettled.
    pub(crate) fn drain(&self) -> usize {
        let mut state = self.lock();
        state.draining = true;
        state.streams.values().map(|s| s.out.len()).sum()
    }

    /// How many streams are attached.
    pub(crate) fn streams(&self) -> usize {
        self.lock().streams.len()
    }

    /// How many streams ever attached.
    pub(crate) fn attaches(&self) -> u64 {
        self.lock().next_stream
    }

    /// Messages held: waiting for a stream, and delivered but unsettled.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let state = self.lock();
        let out = state.streams.values().map(|s| s.out.len()).sum();
        (state.queue.len(), out)
    }
}

impl State {
    /// Hands queued messages to streams with room, round robin.
    fn pump(&mut self, group: &str) {
        while !self.queue.is_empty() && !self.draining {
            let Some(stream) = self.next_with_room() else {
                return;
            };
            let Some(pending) = self.queue.pop_front() else {
                return;
            };
            self.next_delivery += 1;
            let id = self.next_delivery;
            let delivery = Delivery {
                id,
                message: pending.message.clone(),
            };
            let Some(slot) = self.streams.get_mut(&stream) else {
                self.queue.push_front(pending);
                return;
            };
            // The channel holds at most `window` and every delivery in it is unsettled, so
            // it has room; it fails only when the stream's receiver is gone.
            match slot.tx.try_send(delivery) {
                Ok(()) => {
                    slot.out.insert(id, pending);
                    self.last_served = stream;
                    metrics::counter!(DELIVERIES, "group" => group.to_owned()).increment(1);
                }
                Err(_) => {
                    self.queue.push_front(pending);
                    if let Some(slot) = self.streams.remove(&stream) {
                        for (_, p) in slot.out.into_iter().rev() {
                            self.queue.push_front(p);
                        }
                    }
                }
            }
        }
    }

    fn next_with_room(&self) -> Option<StreamId> {
        let has_room = |(_, s): &(&StreamId, &Slot)| s.out.len() < s.window;
        self.streams
            .range(self.last_served + 1..)
            .find(has_room)
            .or_else(|| self.streams.range(..=self.last_served).find(has_room))
            .map(|(id, _)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketwire_core::message::Message;

    fn message(n: u32) -> MessageExt {
        MessageExt::from_message(Message::new("T", format!("m{n}")))
    }

    fn body(d: &Delivery) -> String {
        String::from_utf8(d.message.body().to_vec()).unwrap()
    }

    fn outcome(rx: &mut oneshot::Receiver<ConsumeOutcome>) -> Option<ConsumeOutcome> {
        rx.try_recv().ok()
    }

    #[test]
    fn a_stream_gets_at_most_its_window_and_acks_free_room() {
        let hub = Hub::new("g");
        let (s, mut rx) = hub.attach(2).unwrap();
        let mut settled: Vec<_> = (0..3).map(|n| hub.offer(message(n))).collect();
        let a = rx.try_recv().unwrap();
        let b = rx.try_recv().unwrap();
        assert!(rx.try_recv().is_err(), "window of 2");
        assert_eq!(hub.held(), (1, 2));
        hub.settle(s, &[a.id], ConsumeOutcome::Success).unwrap();
        assert_eq!(outcome(&mut settled[0]), Some(ConsumeOutcome::Success));
        assert_eq!(body(&rx.try_recv().unwrap()), "m2");
        hub.settle(
            s,
            &[b.id],
            ConsumeOutcome::ReconsumeLater { delay_level: 2 },
        )
        .unwrap();
        assert_eq!(
            outcome(&mut settled[1]),
            Some(ConsumeOutcome::ReconsumeLater { delay_level: 2 })
        );
        assert_eq!(outcome(&mut settled[2]), None, "delivered, not settled");
    }

    #[test]
    fn unknown_or_repeated_ids_are_refused_before_anything_is_settled() {
        let hub = Hub::new("g");
        let (s, mut rx) = hub.attach(4).unwrap();
        let mut first = hub.offer(message(0));
        let a = rx.try_recv().unwrap();
        assert_eq!(
            hub.settle(s, &[a.id, 99], ConsumeOutcome::Success),
            Err(UnknownDelivery(99))
        );
        assert_eq!(
            hub.settle(s, &[a.id, a.id], ConsumeOutcome::Success),
            Err(UnknownDelivery(a.id))
        );
        assert_eq!(outcome(&mut first), None);
        hub.settle(s, &[a.id], ConsumeOutcome::Success).unwrap();
        assert_eq!(
            hub.settle(s, &[a.id], ConsumeOutcome::Success),
            Err(UnknownDelivery(a.id)),
            "a second ack is refused"
        );
    }

    #[test]
    fn a_detached_streams_unsettled_go_to_another_stream_first() {
        let hub = Hub::new("g");
        let (s1, mut rx1) = hub.attach(2).unwrap();
        let mut settled: Vec<_> = (0..3).map(|n| hub.offer(message(n))).collect();
        let got: Vec<_> = std::iter::from_fn(|| rx1.try_recv().ok()).collect();
        assert_eq!(got.len(), 2);
        let (s2, mut rx2) = hub.attach(3).unwrap();
        assert_eq!(body(&rx2.try_recv().unwrap()), "m2");
        assert_eq!(hub.detach(s1), 1);
        assert_eq!(hub.detach(s1), 1, "detaching twice changes nothing");
        let again: Vec<_> = std::iter::from_fn(|| rx2.try_recv().ok()).collect();
        assert_eq!(
            again.iter().map(body).collect::<Vec<_>>(),
            ["m0", "m1"],
            "in their first order"
        );
        let ids: Vec<_> = again.iter().map(|d| d.id).collect();
        hub.settle(s2, &ids, ConsumeOutcome::Success).unwrap();
        assert_eq!(outcome(&mut settled[0]), Some(ConsumeOutcome::Success));
        assert_eq!(outcome(&mut settled[1]), Some(ConsumeOutcome::Success));
        assert_eq!(outcome(&mut settled[2]), None);
    }

    #[test]
    fn without_streams_messages_wait_for_the_next_stream() {
        let hub = Hub::new("g");
        let (s1, rx1) = hub.attach(1).unwrap();
        drop(rx1);
        let _settled = hub.offer(message(0));
        assert_eq!(
            hub.streams(),
            0,
            "a stream whose receiver is gone is dropped"
        );
        let _ = hub.detach(s1);
        assert_eq!(hub.held(), (1, 0));
        let (_s2, mut rx2) = hub.attach(1).unwrap();
        assert_eq!(body(&rx2.try_recv().unwrap()), "m0");
    }

    #[test]
    fn streams_share_round_robin() {
        let hub = Hub::new("g");
        let (_a, mut rx_a) = hub.attach(10).unwrap();
        let (_b, mut rx_b) = hub.attach(10).unwrap();
        let _settled: Vec<_> = (0..6).map(|n| hub.offer(message(n))).collect();
        let a: Vec<_> = std::iter::from_fn(|| rx_a.try_recv().ok()).collect();
        let b: Vec<_> = std::iter::from_fn(|| rx_b.try_recv().ok()).collect();
        assert_eq!((a.len(), b.len()), (3, 3));
    }

    #[test]
    fn draining_hands_out_nothing_new_but_takes_settles() {
        let hub = Hub::new("g");
        let (s, mut rx) = hub.attach(1).unwrap();
        let mut first = hub.offer(message(0));
        let mut second = hub.offer(message(1));
        let a = rx.try_recv().unwrap();
        assert_eq!(hub.drain(), 1);
        hub.settle(s, &[a.id], ConsumeOutcome::Success).unwrap();
        assert_eq!(outcome(&mut first), Some(ConsumeOutcome::Success));
        assert!(rx.try_recv().is_err(), "nothing new while draining");
        assert_eq!(hub.drain(), 0);
        hub.close();
        assert_eq!(outcome(&mut second), Some(ConsumeOutcome::Abandon));
    }

    #[test]
    fn close_abandons_everything_and_ends_the_streams() {
        let hub = Hub::new("g");
        let (_s, mut rx) = hub.attach(1).unwrap();
        let mut out = hub.offer(message(0));
        let mut queued = hub.offer(message(1));
        let _ = rx.try_recv().unwrap();
        hub.close();
        assert_eq!(outcome(&mut out), Some(ConsumeOutcome::Abandon));
        assert_eq!(outcome(&mut queued), Some(ConsumeOutcome::Abandon));
        assert!(matches!(
            rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        let mut late = hub.offer(message(2));
        assert_eq!(outcome(&mut late), Some(ConsumeOutcome::Abandon));
        assert!(hub.attach(1).is_none());
    }
}
