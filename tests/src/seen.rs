//! [`Seen`]: the messages a consumer's handler saw, shared with the test that waits for them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketwire_core::message::MessageExt;
use rocketwire_core::ConsumeOutcome;

use crate::harness::Handler;

/// How long [`Seen::wait_for`] waits before failing.
const WAIT: Duration = Duration::from_secs(30);

/// Messages a handler saw, shared with the test.
#[derive(Clone, Default)]
pub(crate) struct Seen(Arc<Mutex<Vec<MessageExt>>>);

impl Seen {
    pub(crate) fn push(&self, messages: &[MessageExt]) {
        self.0.lock().expect("lock").extend_from_slice(messages);
    }
    pub(crate) fn snapshot(&self) -> Vec<MessageExt> {
        self.0.lock().expect("lock").clone()
    }
    pub(crate) fn bodies(&self) -> Vec<String> {
        self.snapshot()
            .iter()
            .map(|m| String::from_utf8_lossy(m.body()).into_owned())
            .collect()
    }
    /// Waits until `cond` holds on the messages seen, or panics after 30 s.
    pub(crate) fn wait_for(&self, what: &str, cond: impl Fn(&[MessageExt]) -> bool) {
        let give_up = Instant::now() + WAIT;
        loop {
            if cond(&self.snapshot()) {
                return;
            }
            assert!(
                Instant::now() < give_up,
                "{what}: not seen in {WAIT:?}; got {:?}",
                self.bodies()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    /// A handler that records and succeeds.
    pub(crate) fn recorder(&self) -> Handler {
        let seen = self.clone();
        Arc::new(move |messages: &[MessageExt]| {
            seen.push(messages);
            ConsumeOutcome::Success
        })
    }
}
