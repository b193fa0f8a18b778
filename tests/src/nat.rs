//! Real-cluster scenarios for a broker behind NAT (`cargo xtask cluster up --broker-ip
//! 127.0.0.2`; `cargo xtask test` starts one): the broker registers `127.0.0.2:<port>`
//! (`ROCKETWIRE_BROKER_REGISTERED`) but listens on `127.0.0.1:<port>` only
//! (`ROCKETWIRE_BROKER`), so the address routes name cannot be dialed and a broker address
//! map is the only way in.

use std::time::Duration;

use rocketwire_core::client::BrokerAddrMap;
use rocketwire_core::message::Message;
use rocketwire_core::producer::SendError;
use rocketwire_core::InvokeError;

use crate::flow::{produce_and_consume, producer_of};
use crate::{cluster_config, unique, Harness};

fn env(key: &str) -> String {
    std::env::var(key)
        .unwrap_or_else(|_| panic!("{key} is not set: run the NAT suite with `cargo xtask test`"))
}

/// Without a map: the route names the registered address, and nothing can be sent to it.
/// This is what makes the mapped scenario prove something.
pub fn registered_address_cannot_be_dialed(h: &dyn Harness) {
    let registered = env("ROCKETWIRE_BROKER_REGISTERED");
    let route = h.query_route("TBW102").expect("the default topic's route");
    let addrs: Vec<&String> = route
        .broker_datas
        .iter()
        .flat_map(|b| b.broker_addrs.values())
        .collect();
    assert_eq!(addrs, [&registered], "the broker registers {registered}");
    let producer = producer_of(h, Duration::from_secs(2));
    let result = producer.send(Message::new(unique("rw_nat_unmapped"), "lost in NAT"));
    assert!(
        matches!(
            &result,
            Err(SendError::Transport(InvokeError::ConnectFailed { addr, .. })) if *addr == registered
        ),
        "{result:?}"
    );
    let _ = producer.shutdown();
}

/// With `registered → listening` in the map, the client produces and consumes.
pub fn mapped_client_produces_and_consumes(h: &dyn Harness) {
    let mut config = cluster_config();
    config.broker_addr_map = BrokerAddrMap::new().with(
        env("ROCKETWIRE_BROKER_REGISTERED"),
        env("ROCKETWIRE_BROKER"),
    );
    let client = h.start_another(config);
    produce_and_consume(&*client, "rw_nat", "through the map", "through the map");
    client.shutdown().expect("client shutdown");
}
