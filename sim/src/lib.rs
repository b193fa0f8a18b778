//! Deterministic simulation harness for **rocketwire**.
//!
//! Everything runs on one thread in virtual time: a [`World`] owns a virtual [`SimClock`], a
//! seeded [`SimNet`] (latency and jitter, loss as connection resets, graceful and abrupt
//! disconnects, partitions, frame hooks, random chunking), simulated namesrvs ([`SimNamesrv`])
//! and brokers ([`SimBroker`]) that speak the real codec, and N real
//! [`rocketwire_core::ClientCore`]s. No socket is opened and the real clock is read once, for
//! the origin of virtual time.
//!
//! # Writing a scenario
//!
//! 1. Build a world from a [`WorldConfig`] (seed, network, servers, clients) and set up state:
//!    topics on brokers, faults, hooks.
//! 2. Issue commands on a client's core with `world.now()` as `now`.
//! 3. [`World::drive`] for a span of virtual time, or [`World::drive_until`] a condition
//!    holds. The drive loop drains every client's outputs, delivers due network events in
//!    virtual-time order, fires due client timers and broker jobs, and advances the clock to
//!    the next due instant. It fails with [`SimError`] on a livelock (too many steps at one
//!    instant) or when a client returns a timer that is not in the future.
//! 4. Assert on the events each client emitted ([`World::events`], [`World::response`],
//!    each stamped with its virtual time), on broker state ([`SimBroker::store`]), and
//!    snapshot [`World::transcript`] with insta.
//!
//! ```
//! use std::time::Duration;
//! use rocketwire_core::message::Message;
//! use rocketwire_core::request::send_message;
//! use rocketwire_core::ResponseCode;
//! use rocketwire_sim::{World, WorldConfig};
//!
//! let mut world = World::new(WorldConfig::new(7));
//! world.broker("broker-a").create_topic("TopicTest", 4);
//! let now = world.now();
//! let message = Message::new("TopicTest", &b"hello"[..]);
//! let request = send_message("group", &message, 0, 0, 0, Some("broker-a"));
//! let op = world
//!     .client(0)
//!     .invoke(now, "127.0.0.1:10911", request, Duration::from_secs(3));
//! world
//!     .drive_until(|w| w.response(0, op).is_some(), Duration::from_secs(5))
//!     .unwrap();
//! let (_at, result) = world.response(0, op).unwrap();
//! assert_eq!(result.as_ref().unwrap().response_code(), ResponseCode::Success);
//! assert_eq!(world.broker("broker-a").store().max_offset("TopicTest", 0), 1);
//! assert!(world.transcript().contains("c1 Transmit conn#1 SEND_MESSAGE_V2 opaque=1"));
//! ```
//!
//! Faults: [`SimNet::config_mut`] (latency, jitter, loss), [`SimNet::set_latency`],
//! [`SimNet::set_hook`] (drop, duplicate or rewrite one frame), [`World::partition`],
//! [`World::restart_broker`], and on a broker [`SimBroker::busy_next_sends`],
//! [`SimBroker::stall_until`], [`SimBroker::drop_next_request`],
//! [`SimBroker::drop_next_sends`]. What a broker saw: [`SimBroker::requests_seen`],
//! [`SimBroker::producer_ids`], [`SimBroker::consumer_ids`]. A test stub implementing
//! [`Driven`] can stand in for a client ([`World::add_stub`]).

mod broker;
mod clock;
mod faults;
mod livelock;
mod namesrv;
mod net;
mod seeds;
mod server;
mod store;
mod transcript;
mod world;

pub use broker::{BrokerConfig, SimBroker};
pub use clock::{SimClock, DEFAULT_WALL_ORIGIN_MILLIS};
pub use faults::{broker_fault, BROKER_FAULTS};
pub use livelock::{LivelockDetector, SimError};
pub use namesrv::SimNamesrv;
pub use net::{
    Dir, Hook, HookAction, Latency, Link, LinkId, NetConfig, NetEvent, Side, SimFrame, SimNet,
};
pub use seeds::{seeds_or, seeds_overridden, SEEDS_VAR};
pub use server::ServerIo;
pub use store::Store;
pub use transcript::{describe_event, describe_frames, describe_output, format_time, Transcript};
pub use world::{Driven, SimEvent, World, WorldConfig, BURST_GAP};
