//! `mq.RocketMQGateway`: the original gateway's API, wire-compatible.
//!
//! Its `Subscribe` has no acknowledgements, so a delivery counts as consumed once it was
//! handed to the HTTP/2 stream and the stream was still open `ack_delay` later: a client that
//! dies (its connection closes) before then gets nothing counted, and the message goes to
//! the group's next stream. A slow reader slows the consumer (HTTP/2 flow control stops the
//! stream, the window fills, the consumer's handler waits); memory stays bounded.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use rocketwire_core::message::Message;
use rocketwire_core::ConsumeOutcome;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tonic::{Request, Response, Status};

use crate::groups::StreamHandle;
use crate::hub::{Delivery, DeliveryId};
use crate::proto::mq::rocket_mq_gateway_server::RocketMqGateway;
use crate::proto::mq::{MessageResponse, SendRequest, SendResponse, SubscribeRequest};
use crate::Shared;

/// The service.
pub(crate) struct Compat {
    pub(crate) shared: Arc<Shared>,
}

#[tonic::async_trait]
impl RocketMqGateway for Compat {
    async fn send_message(
        &self,
        request: Request<SendRequest>,
    ) -> Result<Response<SendResponse>, Status> {
        let request = request.into_inner();
        let failed = |error: String| SendResponse {
            msg_id: String::new(),
            success: false,
            error: Some(error),
        };
        if request.topic.trim().is_empty() {
            return Ok(Response::new(failed("topic is empty".into())));
        }
        let mut message = Message::new(request.topic, request.body);
        if let Some(tags) = request.tags.filter(|t| !t.is_empty()) {
            if let Err(e) = message.set_tags(tags) {
                return Ok(Response::new(failed(e.to_string())));
            }
        }
        let _sending = self.shared.sending()?;
        let response = match self.shared.producer.send(message).await {
            Ok(sent) => SendResponse {
                msg_id: sent.msg_id,
                success: true,
                error: None,
            },
            Err(e) => {
                tracing::debug!(error = %e, "SendMessage failed");
                failed(e.to_string())
            }
        };
        Ok(Response::new(response))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<MessageResponse, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let request = request.into_inner();
        let tags = request.tags.unwrap_or_default();
        let settings = &self.shared.subscribe;
        let (handle, rx) = self
            .shared
            .groups
            .subscribe(
                &request.consumer_group,
                &request.topic,
                &tags,
                settings.window,
            )
            .await?;
        let stream = SubscribeStream {
            handle,
            rx,
            handed: VecDeque::new(),
            ack_delay: settings.ack_delay,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        Ok(Response::new(Box::pin(stream)))
    }
}

/// How the original API's streams run.
#[derive(Debug, Clone)]
pub(crate) struct SubscribeSettings {
    pub(crate) window: usize,
    pub(crate) ack_delay: Duration,
}

/// The messages of one `Subscribe` call (see the module docs). Dropped when the client goes.
struct SubscribeStream {
    handle: StreamHandle,
    rx: mpsc::Receiver<Delivery>,
    /// Handed to the HTTP/2 stream, not yet counted as consumed, oldest first.
    handed: VecDeque<(DeliveryId, Instant)>,
    ack_delay: Duration,
    timer: Pin<Box<Sleep>>,
}

impl SubscribeStream {
    /// Counts the deliveries handed over `ack_delay` ago as consumed; arms the timer for
    /// the next one.
    fn ack_aged(&mut self, cx: &mut Context<'_>) {
        let now = Instant::now();
        let mut aged = Vec::new();
        while let Some(&(id, at)) = self.handed.front() {
            if at + self.ack_delay > now {
                break;
            }
            aged.push(id);
            self.handed.pop_front();
        }
        if !aged.is_empty() {
            // Every id was delivered on this stream and is settled only here.
            if let Err(e) = self.handle.settle(&aged, ConsumeOutcome::Success) {
                tracing::warn!(error = %e, "Subscribe: settling a delivery failed");
            }
        }
        if let Some(&(_, at)) = self.handed.front() {
            self.timer.as_mut().reset(at + self.ack_delay);
            // Registers the wake-up; it cannot be due yet.
            let _ = self.timer.as_mut().poll(cx);
        }
    }
}

impl Stream for SubscribeStream {
    type Item = Result<MessageResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = this.rx.poll_recv(cx);
        if let Poll::Ready(Some(delivery)) = &next {
            this.handed.push_back((delivery.id, Instant::now()));
        }
        this.ack_aged(cx);
        match next {
            Poll::Ready(Some(delivery)) => {
                let m = &delivery.message;
                Poll::Ready(Some(Ok(MessageResponse {
                    topic: m.topic().to_owned(),
                    body: m.body().to_vec(),
                    msg_id: m.msg_id().to_owned(),
                })))
            }
            // The gateway is shutting down.
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for SubscribeStream {
    fn drop(&mut self) {
        // The handed deliveries not yet counted go back to the group.
        self.handle.detach();
    }
}
