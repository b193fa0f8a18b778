//! The client's namespace at its boundary: the user's topics, groups and queues are wrapped on
//! the way in (commands) and unwrapped on the way out (events and queries), so everything
//! inside the core, and on the wire, uses the names the cluster knows.

use std::collections::BTreeMap;

use super::{Event, TransactionSendResult};
use crate::body::MessageQueue;
use crate::consumer::Subscription;
use crate::message::{Message, MessageExt};
use crate::namespace::Namespace;
use crate::producer::SendResult;

impl Namespace {
    /// A queue of the user's topic, as the cluster knows it.
    pub(super) fn wrap_queue(&self, queue: &MessageQueue) -> MessageQueue {
        MessageQueue {
            topic: self.wrap(&queue.topic),
            ..queue.clone()
        }
    }

    /// A queue as the user knows it.
    pub(super) fn unwrap_queue(&self, queue: &MessageQueue) -> MessageQueue {
        MessageQueue {
            topic: self.unwrap(&queue.topic),
            ..queue.clone()
        }
    }

    pub(super) fn wrap_queues(&self, queues: &[MessageQueue]) -> Vec<MessageQueue> {
        queues.iter().map(|q| self.wrap_queue(q)).collect()
    }

    pub(super) fn unwrap_offsets(
        &self,
        offsets: BTreeMap<MessageQueue, i64>,
    ) -> BTreeMap<MessageQueue, i64> {
        if self.is_empty() {
            return offsets;
        }
        offsets
            .into_iter()
            .map(|(q, o)| (self.unwrap_queue(&q), o))
            .collect()
    }

    pub(super) fn wrap_message(&self, message: &mut Message) {
        if !self.is_empty() {
            message.topic = self.wrap(&message.topic);
        }
    }

    pub(super) fn wrap_subscription(&self, subscription: Subscription) -> Subscription {
        if self.is_empty() {
            return subscription;
        }
        let topic = self.wrap(subscription.topic());
        subscription.with_topic(topic)
    }

    fn unwrap_message(&self, message: &mut Message) {
        message.topic = self.unwrap(&message.topic);
    }

    fn unwrap_ext(&self, message: &mut MessageExt) {
        self.unwrap_message(&mut message.message);
    }

    fn unwrap_result(&self, result: &mut SendResult) {
        result.message_queue = self.unwrap_queue(&result.message_queue);
    }

    /// An event as the user sees it.
    pub(super) fn unwrap_event(&self, mut event: Event) -> Event {
        if self.is_empty() {
            return event;
        }
        match &mut event {
            Event::Route { topic, .. } => *topic = self.unwrap(topic),
            Event::Send {
                result: Ok(result), ..
            } => self.unwrap_result(result),
            Event::ExecuteLocalTransaction {
                message,
                send_result,
                ..
            } => {
                self.unwrap_message(message);
                self.unwrap_result(send_result);
            }
            Event::Transaction {
                result: Ok(TransactionSendResult { send_result, .. }),
                ..
            } => self.unwrap_result(send_result),
            Event::CheckTransaction { message, .. }
            | Event::Reply {
                result: Ok(message),
                ..
            } => self.unwrap_ext(message),
            Event::Deliver {
                queue, messages, ..
            } => {
                *queue = self.unwrap_queue(queue);
                for m in messages {
                    self.unwrap_ext(m);
                }
            }
            Event::ConsumeDirectly { messages, .. } => {
                for m in messages {
                    self.unwrap_ext(m);
                }
            }
            Event::Seeked { queue, .. } => *queue = self.unwrap_queue(queue),
            Event::QueuesChanged { topic, queues, .. } => {
                *topic = self.unwrap(topic);
                for q in queues {
                    *q = self.unwrap_queue(q);
                }
            }
            Event::ConsumerClosed { report, .. } => {
                report.persisted = self.unwrap_offsets(std::mem::take(&mut report.persisted));
            }
            _ => {}
        }
        event
    }
}
