//! Graceful shutdown: consumers and producers close first (offsets persisted, queues
//! unlocked, the group unregistered), then the client's trace producer (after it sent every
//! trace record), then the connections.

use std::time::{Duration, Instant};

use super::ClientCore;

/// A graceful shutdown under way.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shutdown {
    /// Until when handlers may finish the deliveries they hold.
    drain_until: Instant,
    /// Whether the deliveries still out at `drain_until` were given up.
    abandoned: bool,
}

impl ClientCore {
    /// Shuts the client down gracefully: every consumer closes (it stops pulling, waits until
    /// `drain_timeout` for its deliveries out, then abandons them, persists its offsets,
    /// unlocks and unregisters), every producer closes (its sends end, it unregisters), the
    /// message traces they left are sent and the client's trace producer closes the same way,
    /// and then [`ClientCore::close`] closes every connection. Their [`super::Event::ConsumerClosed`]
    /// and [`super::Event::ProducerClosed`] events come as for a close asked one by one. Acks
    /// are taken until then; new operations are refused. A request timeout after the drain,
    /// the connections close whatever is still under way. Called again, or after
    /// [`ClientCore::close`], it does nothing.
    pub fn shutdown(&mut self, now: Instant, drain_timeout: Duration) {
        if self.closing || self.shutdown.is_some() {
            return;
        }
        self.shutdown = Some(Shutdown {
            drain_until: now + drain_timeout,
            abandoned: false,
        });
        for consumer in self.consumer_ids() {
            // Refused only for one already closing, which goes on by itself.
            let _ = self.close_consumer(now, consumer);
        }
        // The trace producer stays open for the records the closes still give.
        for producer in self.producer_ids() {
            if !self.is_trace_producer(producer) {
                let _ = self.close_producer(now, producer);
            }
        }
        self.advance_shutdown(now);
    }

    /// Whether [`ClientCore::shutdown`] or [`ClientCore::close`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.closing || self.shutdown.is_some()
    }

    /// Moves a graceful shutdown on: deliveries out past the drain are abandoned; once every
    /// consumer and producer of the user is closed, the traces are finished; once the trace
    /// producer is closed too, or a request timeout after the drain, the client closes.
    pub(super) fn advance_shutdown(&mut self, now: Instant) {
        let Some(mut s) = self.shutdown else {
            return;
        };
        if !s.abandoned && now >= s.drain_until {
            s.abandoned = true;
            self.shutdown = Some(s);
            for consumer in self.consumer_ids() {
                let _ = self.abandon_deliveries(now, consumer);
            }
        }
        let producers = self.producer_ids();
        let users_closed =
            self.consumer_ids().is_empty() && producers.iter().all(|&p| self.is_trace_producer(p));
        if users_closed {
            self.finish_traces(now);
        }
        let hard_stop = s.drain_until + self.config.request_timeout;
        if users_closed && self.producer_ids().is_empty() || now >= hard_stop {
            self.shutdown = None;
            self.close(now);
        }
    }

    /// The next instant a graceful shutdown has something to do.
    pub(super) fn shutdown_deadline(&self) -> Option<Instant> {
        self.shutdown.map(|s| {
            if s.abandoned {
                s.drain_until + self.config.request_timeout
            } else {
                s.drain_until
            }
        })
    }
}
