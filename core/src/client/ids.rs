//! The newtype ids the core hands out: connections, operations, producers, consumers and
//! deliveries. A leaf module, so every other one may name them.

/// Identifies one connection the core asked the adapter to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Identifies one user operation; its result comes back as an event carrying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// Identifies a producer registered with `ClientCore::create_producer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProducerId(pub u32);

/// Identifies a consumer registered with `ClientCore::create_consumer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsumerId(pub u32);

/// Identifies one batch handed to the user with `Event::Deliver`; settle it with
/// `ClientCore::ack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub u64);

/// Identifies one send inside the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SendId(pub(crate) u64);
