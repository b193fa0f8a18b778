//! `rocketwire.gateway.v1.Gateway`: sends with every attribute, batches, and the
//! acknowledged consume stream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use rocketwire_core::ConsumeOutcome;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status, Streaming};

use crate::convert::{message_from_v1, received, send_response, send_status, status_name};
use crate::groups::StreamHandle;
use crate::hub::Delivery;
use crate::proto::v1::consume_request::Kind as RequestKind;
use crate::proto::v1::consume_response::Kind as ResponseKind;
use crate::proto::v1::gateway_server::Gateway;
use crate::proto::v1::{
    ConsumeRequest, ConsumeResponse, SendBatchRequest, SendBatchResponse, SendRequest,
    SendResponse, Subscribed,
};
use crate::Shared;

/// The service.
pub(crate) struct V1 {
    pub(crate) shared: Arc<Shared>,
}

#[tonic::async_trait]
impl Gateway for V1 {
    async fn send(&self, request: Request<SendRequest>) -> Result<Response<SendResponse>, Status> {
        let Some(message) = request.into_inner().message else {
            return Err(Status::invalid_argument("SendRequest has no message"));
        };
        let ordered = message.ordering_key.as_ref().is_some_and(|k| !k.is_empty());
        let message = message_from_v1(message)?;
        let _sending = self.shared.sending()?;
        let producer = if ordered {
            &self.shared.ordered_producer
        } else {
            &self.shared.producer
        };
        let sent = producer.send(message).await.map_err(|e| send_status(&e))?;
        Ok(Response::new(send_response(&sent)))
    }

    async fn send_batch(
        &self,
        request: Request<SendBatchRequest>,
    ) -> Result<Response<SendBatchResponse>, Status> {
        let request = request.into_inner();
        if request.messages.is_empty() {
            return Err(Status::invalid_argument("SendBatchRequest has no messages"));
        }
        let mut messages = Vec::with_capacity(request.messages.len());
        for (i, m) in request.messages.into_iter().enumerate() {
            if m.ordering_key.as_ref().is_some_and(|k| !k.is_empty()) || m.delay.is_some() {
                return Err(Status::invalid_argument(format!(
                    "batch message {i}: ordering keys and delays are not allowed in a batch"
                )));
            }
            messages.push(message_from_v1(m)?);
        }
        let _sending = self.shared.sending()?;
        let sent = self
            .shared
            .producer
            .send_batch_as_one(messages)
            .await
            .map_err(|e| send_status(&e))?;
        Ok(Response::new(SendBatchResponse {
            msg_ids: sent.msg_id.split(',').map(str::to_owned).collect(),
            broker_name: sent.message_queue.broker_name.clone(),
            queue_id: sent.message_queue.queue_id,
            queue_offset: sent.queue_offset,
            status: status_name(&sent),
        }))
    }

    type ConsumeStream = Pin<Box<dyn Stream<Item = Result<ConsumeResponse, Status>> + Send>>;

    async fn consume(
        &self,
        request: Request<Streaming<ConsumeRequest>>,
    ) -> Result<Response<Self::ConsumeStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the stream ended before `subscribe`"))?;
        let Some(RequestKind::Subscribe(subscribe)) = first.kind else {
            return Err(Status::invalid_argument(
                "the first request of Consume must be `subscribe`",
            ));
        };
        let settings = &self.shared.consume;
        let window = match subscribe.window as usize {
            0 => settings.window,
            w if w > settings.max_window => {
                return Err(Status::invalid_argument(format!(
                    "window {w} is above the gateway's max_window {}",
                    settings.max_window
                )))
            }
            w => w,
        };
        let (handle, rx) = self
            .shared
            .groups
            .subscribe(
                &subscribe.consumer_group,
                &subscribe.topic,
                subscribe.tags.as_deref().unwrap_or_default(),
                window,
            )
            .await?;
        let handle = Arc::new(handle);
        let (failed_tx, failed) = oneshot::channel();
        tokio::spawn(read_settles(inbound, handle.clone(), failed_tx));
        let window = u32::try_from(window).unwrap_or(u32::MAX);
        Ok(Response::new(Box::pin(ConsumeStream {
            subscribed: Some(Subscribed { window }),
            handle,
            rx,
            failed: Some(failed),
        })))
    }
}

/// How v1 consume streams run.
#[derive(Debug, Clone)]
pub(crate) struct ConsumeSettings {
    pub(crate) window: usize,
    pub(crate) max_window: usize,
}

/// Reads the client's acks and retries until its side ends; a request that breaks the
/// protocol ends the stream with its status. Either way the stream detaches.
async fn read_settles(
    mut inbound: Streaming<ConsumeRequest>,
    handle: Arc<StreamHandle>,
    failed: oneshot::Sender<Status>,
) {
    let error = loop {
        let request = match inbound.message().await {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => break None,
        };
        let settled = match request.kind {
            Some(RequestKind::Ack(ack)) => {
                handle.settle(&ack.delivery_ids, ConsumeOutcome::Success)
            }
            Some(RequestKind::Retry(retry)) => handle.settle(
                &retry.delivery_ids,
                ConsumeOutcome::ReconsumeLater {
                    delay_level: retry.delay_level.max(0),
                },
            ),
            Some(RequestKind::Subscribe(_)) => {
                break Some(Status::invalid_argument(
                    "`subscribe` may come only once, first",
                ))
            }
            None => break Some(Status::invalid_argument("empty ConsumeRequest")),
        };
        if let Err(e) = settled {
            break Some(Status::invalid_argument(e.to_string()));
        }
    };
    if let Some(status) = error {
        let _ = failed.send(status);
    }
    handle.detach();
}

/// The deliveries of one Consume call: `subscribed` first, then each delivery, until the
/// client's side ends, a protocol error, or the gateway shuts down.
struct ConsumeStream {
    subscribed: Option<Subscribed>,
    handle: Arc<StreamHandle>,
    rx: mpsc::Receiver<Delivery>,
    failed: Option<oneshot::Receiver<Status>>,
}

impl Stream for ConsumeStream {
    type Item = Result<ConsumeResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(subscribed) = this.subscribed.take() {
            return Poll::Ready(Some(Ok(ConsumeResponse {
                kind: Some(ResponseKind::Subscribed(subscribed)),
            })));
        }
        if let Some(failed) = this.failed.as_mut() {
            match Pin::new(failed).poll(cx) {
                Poll::Ready(Ok(status)) => {
                    this.failed = None;
                    return Poll::Ready(Some(Err(status)));
                }
                Poll::Ready(Err(_)) => this.failed = None,
                Poll::Pending => {}
            }
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(delivery)) => Poll::Ready(Some(Ok(ConsumeResponse {
                kind: Some(ResponseKind::Delivery(crate::proto::v1::Delivery {
                    delivery_id: delivery.id,
                    message: Some(received(&delivery.message)),
                })),
            }))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ConsumeStream {
    fn drop(&mut self) {
        self.handle.detach();
    }
}
