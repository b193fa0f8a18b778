//! `rocketwire topic create|list|describe`, `offsets` and `query`: the admin API on the
//! command line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rocketwire_core::admin::TopicConfig;
use rocketwire_core::body::{MessageQueue, OffsetWrapper};
use rocketwire_core::message::MessageExt;
use rocketwire_driver::QueueOffsets;

use crate::args::{OffsetsArgs, QueryArgs, TopicCommand};
use crate::backend::{AdminAnswer, AdminCall, Backend};
use crate::consume::{message_json, message_line};
use crate::CliError;

fn unexpected(answer: AdminAnswer) -> CliError {
    CliError(format!("unexpected admin answer: {answer:?}"))
}

fn offsets_of<B: Backend>(client: &B, topic: &str) -> Result<Vec<QueueOffsets>, CliError> {
    match client.admin(AdminCall::TopicOffsets(topic.to_owned()))? {
        AdminAnswer::Offsets(offsets) => Ok(offsets),
        other => Err(unexpected(other)),
    }
}

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// `rocketwire topic ...`.
pub fn run_topic<B: Backend>(client: &B, command: &TopicCommand) -> Result<(), CliError> {
    match command {
        TopicCommand::Create(args) => {
            let config = TopicConfig {
                order: args.order,
                ..TopicConfig::new(&args.topic).queues(args.queues)
            };
            let call = AdminCall::CreateTopic(config, args.cluster.clone());
            let AdminAnswer::Brokers(brokers) = client.admin(call)? else {
                return Err(CliError("unexpected answer to topic create".into()));
            };
            println!(
                "created {} with {} queues on {}",
                args.topic,
                args.queues,
                brokers.join(", ")
            );
        }
        TopicCommand::List(args) => {
            let topics = match client.admin(AdminCall::TopicList)? {
                AdminAnswer::Topics(topics) => topics,
                other => return Err(unexpected(other)),
            };
            if args.json {
                print_json(&serde_json::json!(topics));
            } else {
                for topic in topics {
                    println!("{topic}");
                }
            }
        }
        TopicCommand::Describe(args) => {
            let route = client.query_route(&args.topic)?;
            let offsets = offsets_of(client, &args.topic)?;
            if args.json {
                print_json(&serde_json::json!({
                    "topic": args.topic,
                    "route": route,
                    "queues": offsets.iter().map(queue_json).collect::<Vec<_>>(),
                }));
            } else {
                print!("{}", crate::route::render(&args.topic, &route));
                print!("{}", render_offsets(&offsets, None));
            }
        }
    }
    Ok(())
}

fn queue_json(q: &QueueOffsets) -> serde_json::Value {
    serde_json::json!({
        "broker": q.queue.broker_name,
        "queue": q.queue.queue_id,
        "min": q.min,
        "max": q.max,
    })
}

/// One line per queue: broker, queue id, min and max offset, and with a group's stats its
/// committed offset and lag; then the total lag.
pub fn render_offsets(
    offsets: &[QueueOffsets],
    group: Option<&BTreeMap<MessageQueue, OffsetWrapper>>,
) -> String {
    let mut out = String::new();
    let mut total = 0;
    for q in offsets {
        let _ = write!(
            out,
            "{} q{} min {} max {}",
            q.queue.broker_name, q.queue.queue_id, q.min, q.max
        );
        if let Some(table) = group {
            let committed = table.get(&q.queue).map(|o| o.consumer_offset);
            let lag = committed.map_or(q.max - q.min, |c| (q.max - c).max(0));
            total += lag;
            match committed {
                Some(c) => {
                    let _ = write!(out, " committed {c} lag {lag}");
                }
                None => {
                    let _ = write!(out, " committed - lag {lag}");
                }
            }
        }
        out.push('\n');
    }
    if group.is_some() {
        let _ = writeln!(out, "total lag {total}");
    }
    out
}

/// `rocketwire offsets`.
pub fn run_offsets<B: Backend>(client: &B, args: &OffsetsArgs) -> Result<(), CliError> {
    let offsets = offsets_of(client, &args.topic)?;
    let stats = match &args.group {
        Some(group) => {
            let call = AdminCall::ConsumeStats(group.clone(), args.topic.clone());
            match client.admin(call) {
                Ok(AdminAnswer::Stats(stats)) => Some(stats.offset_table),
                Ok(other) => return Err(unexpected(other)),
                Err(e) => return Err(CliError(format!("group {group}: {e}"))),
            }
        }
        None => None,
    };
    if args.json {
        let queues: Vec<serde_json::Value> = offsets
            .iter()
            .map(|q| {
                let mut v = queue_json(q);
                if let Some(o) = stats.as_ref().and_then(|t| t.get(&q.queue)) {
                    v["committed"] = o.consumer_offset.into();
                    v["lag"] = (q.max - o.consumer_offset).max(0).into();
                }
                v
            })
            .collect();
        print_json(&serde_json::json!({ "topic": args.topic, "queues": queues }));
    } else {
        print!("{}", render_offsets(&offsets, stats.as_ref()));
    }
    Ok(())
}

/// `rocketwire query`: by key, or by id (a unique id first, else an offset message id).
pub fn run_query<B: Backend>(client: &B, args: &QueryArgs) -> Result<(), CliError> {
    let messages = match (&args.key, &args.id) {
        (Some(key), _) => {
            let call = AdminCall::QueryByKey(args.topic.clone(), key.clone(), args.max);
            messages(client.admin(call)?)?
        }
        (None, Some(id)) => {
            let call = AdminCall::QueryByUniqueKey(args.topic.clone(), id.clone());
            let found = messages(client.admin(call)?)?;
            if found.is_empty() {
                messages(client.admin(AdminCall::ViewMessage(id.clone()))?)?
            } else {
                found
            }
        }
        (None, None) => return Err(CliError("give --key or --id".into())),
    };
    if messages.is_empty() {
        return Err(CliError(format!("no message found in {}", args.topic)));
    }
    for m in &messages {
        if args.json {
            print_json(&message_json(m));
        } else {
            println!("{}", message_line(m));
        }
    }
    Ok(())
}

fn messages(answer: AdminAnswer) -> Result<Vec<MessageExt>, CliError> {
    match answer {
        AdminAnswer::Messages(m) => Ok(m),
        other => Err(unexpected(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_with_and_without_a_group() {
        let q = |id, min, max| QueueOffsets {
            queue: MessageQueue::new("T", "broker-a", id),
            min,
            max,
        };
        let offsets = [q(0, 0, 10), q(1, 2, 5)];
        assert_eq!(
            render_offsets(&offsets, None),
            "broker-a q0 min 0 max 10\nbroker-a q1 min 2 max 5\n"
        );
        let table = BTreeMap::from([(
            MessageQueue::new("T", "broker-a", 0),
            OffsetWrapper {
                broker_offset: 10,
                consumer_offset: 7,
                ..OffsetWrapper::default()
            },
        )]);
        assert_eq!(
            render_offsets(&offsets, Some(&table)),
            "broker-a q0 min 0 max 10 committed 7 lag 3\n\
             broker-a q1 min 2 max 5 committed - lag 3\n\
             total lag 6\n"
        );
    }
}
