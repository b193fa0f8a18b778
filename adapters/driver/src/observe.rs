//! Metrics through the [`metrics`] facade, recorded by the shared driver for every adapter.
//! Until the application installs a recorder (a Prometheus exporter, say) each call is a
//! check of an unset global and nothing else.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `rocketwire_send_duration_seconds` | histogram | `topic`, `result` | from the send's hand-over to the driver to its result, retries included |
//! | `rocketwire_sends_total` | counter | `topic`, `result` | finished sends |
//! | `rocketwire_sends_in_flight` | gauge | | sends handed to the driver and not finished |
//! | `rocketwire_consume_duration_seconds` | histogram | `group`, `topic` | one handler call |
//! | `rocketwire_consumed_messages_total` | counter | `group`, `topic`, `outcome` | messages by the handler's outcome |
//! | `rocketwire_delivery_batch_size` | histogram | `group` | messages per handler call |
//! | `rocketwire_consumer_lag` | gauge | `group`, `topic`, `broker`, `queue` | messages between a held queue's committable offset and its end as the broker last reported it |
//! | `rocketwire_consumer_buffered_messages` | gauge | `group` | messages pulled and not yet settled |
//! | `rocketwire_consumer_buffered_bytes` | gauge | `group` | their body bytes |
//! | `rocketwire_rebalances_total` | counter | `group` | rebalances that changed the queues a consumer holds |
//! | `rocketwire_brokers_isolated` | gauge | | brokers the producers avoid now (fault isolation after a failure, or slow) |
//! | `rocketwire_connection_attempts_total` | counter | `peer` | connections opened to namesrvs and brokers |
//! | `rocketwire_connections_open` | gauge | | connections the client holds (opening or open) |
//! | `rocketwire_connections_lost_total` | counter | | connections that failed to open or closed without the client asking |
//! | `rocketwire_reconnects_total` | counter | `peer` | connections opened again to a peer whose connection was lost |
//! | `rocketwire_pulls_total` | counter | `group`, `result` | pulls by result: `found`, `empty` (nothing new or matching), `failed` |
//! | `rocketwire_pulled_messages_total` | counter | `group` | messages the pulls returned (per pull: divide by the `found` pulls) |
//! | `rocketwire_auto_batches_total` | counter | `group` | batches a producer with auto-batching sent |
//! | `rocketwire_auto_batched_messages_total` | counter | `group` | messages in them (per batch: divide by the batches) |
//!
//! The consumer, auto-batch and isolation values are refreshed after deliveries, acks and send results,
//! at most once a second (an idle client gets no wake-up for them). A queue given up to
//! another member keeps its last lag value.
//!
//! `result` is the broker's status for a stored message (`SEND_OK`, `FLUSH_DISK_TIMEOUT`, …),
//! `WRITTEN` for a oneway send, or the error's kind (`timeout`, `broker`, `authorization`,
//! `no_route`, `transport`, `invalid`, `error`). `outcome` is `success`, `reconsume_later`,
//! `suspend`, `abandon` or `panicked`.

use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use rocketwire_core::producer::{AutoBatchStats, SendError, SendResult};
use rocketwire_core::{ConsumeOutcome, ConsumerStats};

/// `rocketwire_send_duration_seconds`.
pub const SEND_DURATION: &str = "rocketwire_send_duration_seconds";
/// `rocketwire_sends_total`.
pub const SENDS: &str = "rocketwire_sends_total";
/// `rocketwire_sends_in_flight`.
pub const SENDS_IN_FLIGHT: &str = "rocketwire_sends_in_flight";
/// `rocketwire_consume_duration_seconds`.
pub const CONSUME_DURATION: &str = "rocketwire_consume_duration_seconds";
/// `rocketwire_consumed_messages_total`.
pub const CONSUMED: &str = "rocketwire_consumed_messages_total";
/// `rocketwire_delivery_batch_size`.
pub const DELIVERY_BATCH: &str = "rocketwire_delivery_batch_size";
/// `rocketwire_consumer_lag`.
pub const CONSUMER_LAG: &str = "rocketwire_consumer_lag";
/// `rocketwire_consumer_buffered_messages`.
pub const BUFFERED_MESSAGES: &str = "rocketwire_consumer_buffered_messages";
/// `rocketwire_consumer_buffered_bytes`.
pub const BUFFERED_BYTES: &str = "rocketwire_consumer_buffered_bytes";
/// `rocketwire_rebalances_total`.
pub const REBALANCES: &str = "rocketwire_rebalances_total";
/// `rocketwire_brokers_isolated`.
pub const BROKERS_ISOLATED: &str = "rocketwire_brokers_isolated";
/// How often at most the consumer gauges are refreshed.
pub const STATS_PERIOD: Duration = Duration::from_secs(1);

/// `rocketwire_connection_attempts_total`.
pub const CONNECTION_ATTEMPTS: &str = "rocketwire_connection_attempts_total";
/// `rocketwire_connections_open`.
pub const CONNECTIONS_OPEN: &str = "rocketwire_connections_open";
/// `rocketwire_connections_lost_total`.
pub const CONNECTIONS_LOST: &str = "rocketwire_connections_lost_total";
/// `rocketwire_reconnects_total`.
pub const RECONNECTS: &str = "rocketwire_reconnects_total";
/// `rocketwire_pulls_total`.
pub const PULLS: &str = "rocketwire_pulls_total";
/// `rocketwire_pulled_messages_total`.
pub const PULLED_MESSAGES: &str = "rocketwire_pulled_messages_total";
/// Counter: batches auto-batching sent, by producer group.
pub const AUTO_BATCHES: &str = "rocketwire_auto_batches_total";
/// Counter: messages auto-batching sent in them, by producer group (divided by
/// [`AUTO_BATCHES`]: the mean batch size).
pub const AUTO_BATCHED_MESSAGES: &str = "rocketwire_auto_batched_messages_total";

/// One send from its hand-over to its result; counts in `rocketwire_sends_in_flight` while
/// alive.
#[derive(Debug)]
pub(crate) struct SendMeter {
    topic: String,
    started: Instant,
}

impl SendMeter {
    pub(crate) fn start(topic: &str, now: Instant) -> Self {
        gauge!(SENDS_IN_FLIGHT).increment(1.0);
        Self {
            topic: topic.to_owned(),
            started: now,
        }
    }

    /// A send answered by the broker (or failed).
    pub(crate) fn stored(self, now: Instant, result: &Result<SendResult, SendError>) {
        let label = match result {
            Ok(sent) => sent.status.as_str().to_owned(),
            Err(e) => error_label(e).to_owned(),
        };
        self.finish(now, label);
    }

    /// A oneway send written (or failed).
    pub(crate) fn written(self, now: Instant, result: &Result<(), SendError>) {
        let label = match result {
            Ok(()) => "WRITTEN".to_owned(),
            Err(e) => error_label(e).to_owned(),
        };
        self.finish(now, label);
    }

    fn finish(self, now: Instant, result: String) {
        let took = now.saturating_duration_since(self.started);
        let labels = [("topic", self.topic.clone()), ("result", result)];
        histogram!(SEND_DURATION, &labels).record(took.as_secs_f64());
        counter!(SENDS, &labels).increment(1);
    }
}

impl Drop for SendMeter {
    fn drop(&mut self) {
        gauge!(SENDS_IN_FLIGHT).decrement(1.0);
    }
}

fn error_label(e: &SendError) -> &'static str {
    match e {
        SendError::Timeout => "timeout",
        SendError::Broker { .. } => "broker",
        SendError::Authorization { .. } => "authorization",
        SendError::NoRoute { .. } => "no_route",
        SendError::Transport(_) => "transport",
        SendError::Validation(_) | SendError::Message(_) | SendError::Misuse(_) => "invalid",
        _ => "error",
    }
}

/// One handler call of a push consumer.
pub(crate) fn consumed(group: &str, topic: &str, messages: usize, took: Duration, outcome: &str) {
    let (group, topic) = (group.to_owned(), topic.to_owned());
    histogram!(CONSUME_DURATION, "group" => group.clone(), "topic" => topic.clone())
        .record(took.as_secs_f64());
    histogram!(DELIVERY_BATCH, "group" => group.clone()).record(messages as f64);
    counter!(CONSUMED, "group" => group, "topic" => topic, "outcome" => outcome.to_owned())
        .increment(messages as u64);
}

/// The `outcome` label of a handler's answer.
pub(crate) fn outcome_label(outcome: &ConsumeOutcome) -> &'static str {
    match outcome {
        ConsumeOutcome::Success => "success",
        ConsumeOutcome::ReconsumeLater { .. } => "reconsume_later",
        ConsumeOutcome::SuspendCurrentQueue(_) => "suspend",
        ConsumeOutcome::Abandon => "abandon",
    }
}

/// The client opens a connection to `peer`.
pub(crate) fn connecting(peer: &str) {
    counter!(CONNECTION_ATTEMPTS, "peer" => peer.to_owned()).increment(1);
    gauge!(CONNECTIONS_OPEN).increment(1.0);
}

/// A connection ended: `lost` when the client did not ask for it.
pub(crate) fn disconnected(lost: bool) {
    gauge!(CONNECTIONS_OPEN).decrement(1.0);
    if lost {
        counter!(CONNECTIONS_LOST).increment(1);
    }
}

/// A connection to `peer` opened again after it was lost.
pub(crate) fn reconnected(peer: &str) {
    counter!(RECONNECTS, "peer" => peer.to_owned()).increment(1);
}

/// A consumer's queues as gauges, its rebalances and pulls as counters.
pub(crate) fn consumer_stats(group: &str, stats: &ConsumerStats) {
    counter!(REBALANCES, "group" => group.to_owned()).absolute(stats.rebalances);
    let pulls = &stats.pulls;
    for (result, count) in [
        ("found", pulls.found),
        ("empty", pulls.empty),
        ("failed", pulls.failed),
    ] {
        counter!(PULLS, "group" => group.to_owned(), "result" => result).absolute(count);
    }
    counter!(PULLED_MESSAGES, "group" => group.to_owned()).absolute(pulls.messages);
    let (mut messages, mut bytes) = (0u64, 0u64);
    for q in &stats.queues {
        messages += q.buffered_messages;
        bytes += q.buffered_bytes;
        if let Some(lag) = q.lag() {
            gauge!(
                CONSUMER_LAG,
                "group" => group.to_owned(),
                "topic" => q.queue.topic.clone(),
                "broker" => q.queue.broker_name.clone(),
                "queue" => q.queue.queue_id.to_string()
            )
            .set(lag as f64);
        }
    }
    gauge!(BUFFERED_MESSAGES, "group" => group.to_owned()).set(messages as f64);
    gauge!(BUFFERED_BYTES, "group" => group.to_owned()).set(bytes as f64);
}

/// What a producer group's auto-batching sent so far.
pub(crate) fn auto_batch_stats(group: &str, stats: &AutoBatchStats) {
    counter!(AUTO_BATCHES, "group" => group.to_owned()).absolute(stats.batches);
    counter!(AUTO_BATCHED_MESSAGES, "group" => group.to_owned()).absolute(stats.messages);
}

/// How many brokers the producers hold unavailable now.
pub(crate) fn isolated_brokers(count: usize) {
    gauge!(BROKERS_ISOLATED).set(count as f64);
}
