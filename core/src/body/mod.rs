//! JSON bodies: topic routes, heartbeats, locks, consumer lists, running info, offset resets.
//! (Skeleton: to be completed by the body work.)

mod route;

pub use route::{BrokerData, QueueData, TopicRouteData};

/// Why a JSON body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not valid JSON (after fastjson quirks are repaired) or not the expected shape.
    #[error("malformed {what} body: {reason}")]
    Malformed {
        /// Which body.
        what: &'static str,
        /// Parser message.
        reason: String,
    },
}
