//! A lite pull consumer as a [`Stream`] of message batches (async adapters): each item is
//! what one `poll` returned, never empty; the stream ends once the client shut down.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{FutureExt, Stream};
use rocketwire_core::message::MessageExt;
use rocketwire_core::ClientError;

use super::{LitePullConsumer, LitePullError};

/// One poll under way: it gives the consumer back with what it polled.
type Polling<R> = BoxFuture<'static, (Box<LitePullConsumer<R>>, Polled)>;

/// What one poll returned.
type Polled = Result<Vec<MessageExt>, LitePullError>;

/// The consumer and the poll under way, if any.
enum State<R> {
    Idle(Box<LitePullConsumer<R>>),
    Polling(Polling<R>),
    Done,
}

/// [`LitePullConsumer::into_stream`]: batches of messages as `poll` returns them (with its
/// commit behaviour), errors as items; it ends when the client is shut down. Dropping it
/// closes the consumer as dropping the consumer does.
pub struct LitePullStream<R> {
    state: State<R>,
}

impl<R> fmt::Debug for LitePullStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle(_) => "idle",
            State::Polling(_) => "polling",
            State::Done => "done",
        };
        f.debug_struct("LitePullStream")
            .field("state", &state)
            .finish()
    }
}

impl<R: crate::Runtime> LitePullConsumer<R> {
    /// This consumer as a [`Stream`] of the non-empty batches
    /// [`LitePullConsumer::poll_default`] returns. Call `subscribe` or `assign` first.
    pub fn into_stream(self) -> LitePullStream<R> {
        LitePullStream {
            state: State::Idle(Box::new(self)),
        }
    }
}

impl<R: crate::Runtime> Stream for LitePullStream<R> {
    type Item = Result<Vec<MessageExt>, LitePullError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Idle(mut consumer) => {
                    self.state = State::Polling(
                        async move {
                            let polled = consumer.poll_default().await;
                            (consumer, polled)
                        }
                        .boxed(),
                    );
                }
                State::Polling(mut polling) => match polling.poll_unpin(cx) {
                    Poll::Pending => {
                        self.state = State::Polling(polling);
                        return Poll::Pending;
                    }
                    Poll::Ready((consumer, polled)) => match polled {
                        Ok(batch) if batch.is_empty() => self.state = State::Idle(consumer),
                        Ok(batch) => {
                            self.state = State::Idle(consumer);
                            return Poll::Ready(Some(Ok(batch)));
                        }
                        Err(LitePullError::Client(ClientError::Shutdown)) => {
                            return Poll::Ready(None);
                        }
                        Err(e) => {
                            self.state = State::Idle(consumer);
                            return Poll::Ready(Some(Err(e)));
                        }
                    },
                },
            }
        }
    }
}
