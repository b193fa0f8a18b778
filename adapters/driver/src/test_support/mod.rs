//! Test support shared by every adapter (feature `test-support`): a fake namesrv/broker, a
//! TLS front for it, and the conformance suite.
//!
//! ```ignore
//! // in an adapter's tests:
//! rocketwire_driver::conformance_tests!(MyTestClient);
//! ```

mod fake;
mod suite;
mod tls;
mod tls_suite;

pub use fake::{
    FakeServer, Log, BROKER_NAME, BUSY_PROPERTY, DELAY_PROPERTY, FAKE_OFFSET_MSG_ID, PUSH_CODE,
    REMARK, TEST_CODE, TOPIC,
};
pub use suite::*;
pub use tls::{TestCa, TlsFront};
pub use tls_suite::*;
