//! `rocketwire route`.

use std::fmt::Write as _;

use rocketwire_core::body::TopicRouteData;

use crate::args::RouteArgs;
use crate::backend::Backend;
use crate::CliError;

/// Queries and prints the route.
pub fn run<B: Backend>(client: &B, args: &RouteArgs) -> Result<(), CliError> {
    let route = client.query_route(&args.topic)?;
    if args.json {
        let json = serde_json::to_string_pretty(&route)
            .map_err(|e| CliError(format!("cannot print the route: {e}")))?;
        println!("{json}");
    } else {
        print!("{}", render(&args.topic, &route));
    }
    Ok(())
}

/// The human-readable route: one line per broker, then one per broker's queues.
pub fn render(topic: &str, route: &TopicRouteData) -> String {
    let mut out = format!("topic {topic}\n");
    for broker in &route.broker_datas {
        let addrs: Vec<String> = broker
            .broker_addrs
            .iter()
            .map(|(id, addr)| format!("{id}={addr}"))
            .collect();
        let _ = writeln!(
            out,
            "broker {} (cluster {}): {}",
            broker.broker_name,
            broker.cluster,
            addrs.join(" ")
        );
    }
    for queues in &route.queue_datas {
        let _ = writeln!(
            out,
            "queues {}: read {}, write {}, perm {}",
            queues.broker_name, queues.read_queue_nums, queues.write_queue_nums, queues.perm
        );
    }
    out
}
