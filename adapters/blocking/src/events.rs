//! The client's event stream, read by blocking the calling thread.

use rocketwire_core::ClientNotice;
use rocketwire_driver::block_on;

/// A subscription to the client's events ([`Client::events`](crate::Client::events)); an
/// iterator that ends when the client has shut down.
#[derive(Debug)]
pub struct ClientEvents(pub(crate) rocketwire_driver::ClientEvents);

impl ClientEvents {
    /// Waits for the next event; `None` once the client has shut down.
    pub fn next_event(&mut self) -> Option<ClientNotice> {
        block_on(self.0.next_event())
    }

    /// The next event if one is waiting (`Ok(None)`: the client has shut down).
    pub fn try_next_event(&mut self) -> Result<Option<ClientNotice>, rocketwire_driver::NoEvent> {
        self.0.try_next_event()
    }
}

impl Iterator for ClientEvents {
    type Item = ClientNotice;

    fn next(&mut self) -> Option<ClientNotice> {
        self.next_event()
    }
}
