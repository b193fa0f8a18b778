//! Transactions in simulation: commit and rollback from the local transaction, and an
//! unknown outcome resolved by the broker's check-back.

use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::header::TransactionState;
use rocketwire_core::message::{keys, sysflag, Message};
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{Event, OpId, ProducerId};
use rocketwire_sim::{World, WorldConfig};

const TOPIC: &str = "TxTopic";

fn world_with_producer(seed: u64) -> (World, ProducerId) {
    let mut world = World::new(WorldConfig::new(seed));
    world.broker("broker-a").create_topic(TOPIC, 4);
    let now = world.now();
    let config = ProducerConfig::builder("tx-group").build().unwrap();
    let producer = world
        .client(0)
        .create_producer(now, config, QueueSelector::RoundRobin);
    (world, producer)
}

fn send(world: &mut World, producer: ProducerId, body: &'static [u8]) -> OpId {
    let now = world.now();
    let mut m = Message::new(TOPIC, Bytes::from_static(body));
    m.set_delay_level(3); // dropped for transactional messages, as in Java
    world
        .client(0)
        .send_transactional(now, producer, m)
        .expect("a live producer")
}

/// Drives until the local transaction is asked for, and returns its token and message.
fn local_transaction(
    world: &mut World,
    op: OpId,
) -> (rocketwire_core::LocalTransactionToken, Message) {
    world
        .drive_until(
            |w| {
                w.events(0).iter().any(
                    |e| matches!(&e.event, Event::ExecuteLocalTransaction { op: o, .. } if *o == op),
                )
            },
            Duration::from_secs(10),
        )
        .unwrap();
    world
        .events(0)
        .iter()
        .find_map(|e| match &e.event {
            Event::ExecuteLocalTransaction {
                op: o,
                token,
                message,
                send_result,
            } if *o == op => {
                assert_eq!(send_result.message_queue.topic, TOPIC);
                Some((token.clone(), message.clone()))
            }
            _ => None,
        })
        .unwrap()
}

fn transaction_result(world: &mut World, op: OpId) -> TransactionState {
    world
        .drive_until(
            |w| {
                w.events(0)
                    .iter()
                    .any(|e| matches!(&e.event, Event::Transaction { op: o, .. } if *o == op))
            },
            Duration::from_secs(10),
        )
        .unwrap();
    world
        .events(0)
        .iter()
        .find_map(|e| match &e.event {
            Event::Transaction { op: o, result } if *o == op => {
                Some(result.as_ref().expect("half message stored").state)
            }
            _ => None,
        })
        .unwrap()
}

fn committed_messages(world: &mut World) -> Vec<Vec<u8>> {
    let store = world.broker("broker-a").store();
    (0..4)
        .flat_map(|q| store.messages(TOPIC, q))
        .map(|m| m.message.body.to_vec())
        .collect()
}

#[test]
fn commit_and_rollback_from_the_local_transaction() {
    let (mut world, producer) = world_with_producer(3);
    let commit = send(&mut world, producer, b"commit me");
    let (token, message) = local_transaction(&mut world, commit);
    assert_eq!(message.property(keys::TRANSACTION_PREPARED), Some("true"));
    assert_eq!(message.property(keys::PRODUCER_GROUP), Some("tx-group"));
    assert_eq!(
        message.property(keys::DELAY_TIME_LEVEL),
        None,
        "delay removed"
    );
    assert!(message.property(keys::TRANSACTION_ID).is_some());
    assert_eq!(world.broker("broker-a").half_count(), 1);
    assert!(
        committed_messages(&mut world).is_empty(),
        "half messages are hidden"
    );

    let now = world.now();
    world
        .client(0)
        .end_local_transaction(now, token, TransactionState::Commit, None);
    assert_eq!(
        transaction_result(&mut world, commit),
        TransactionState::Commit
    );
    world.drive(Duration::from_millis(50)).unwrap();
    assert_eq!(world.broker("broker-a").half_count(), 0);
    assert_eq!(committed_messages(&mut world), vec![b"commit me".to_vec()]);

    let rollback = send(&mut world, producer, b"roll me back");
    let (token, _) = local_transaction(&mut world, rollback);
    let now = world.now();
    world.client(0).end_local_transaction(
        now,
        token,
        TransactionState::Rollback,
        Some("local failure".into()),
    );
    assert_eq!(
        transaction_result(&mut world, rollback),
        TransactionState::Rollback
    );
    world.drive(Duration::from_millis(50)).unwrap();
    assert_eq!(world.broker("broker-a").half_count(), 0);
    assert_eq!(
        committed_messages(&mut world).len(),
        1,
        "nothing more committed"
    );
}

#[test]
fn unknown_then_broker_check_then_commit() {
    let (mut world, producer) = world_with_producer(4);
    let op = send(&mut world, producer, b"decide later");
    let (token, sent) = local_transaction(&mut world, op);
    let now = world.now();
    world
        .client(0)
        .end_local_transaction(now, token, TransactionState::Unknown, None);
    assert_eq!(
        transaction_result(&mut world, op),
        TransactionState::Unknown
    );
    assert_eq!(
        world.broker("broker-a").half_count(),
        1,
        "unknown leaves it half"
    );

    // The broker checks back (after its check delay) with the uncompressed half message.
    world
        .drive_until(
            |w| {
                w.events(0)
                    .iter()
                    .any(|e| matches!(e.event, Event::CheckTransaction { .. }))
            },
            Duration::from_secs(30),
        )
        .unwrap();
    let (check_producer, check_token, half) = world
        .events(0)
        .iter()
        .find_map(|e| match &e.event {
            Event::CheckTransaction {
                producer,
                token,
                message,
            } => Some((*producer, token.clone(), message.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(check_producer, producer, "routed by producer group");
    assert_eq!(half.message.body, sent.body);
    assert_eq!(half.msg_id(), sent.unique_key().unwrap());
    assert_eq!(
        sysflag::transaction_type(half.sys_flag),
        sysflag::TRANSACTION_PREPARED_TYPE
    );
    let now = world.now();
    world
        .client(0)
        .answer_transaction_check(now, check_token, TransactionState::Commit);
    world.drive(Duration::from_millis(50)).unwrap();
    assert_eq!(world.broker("broker-a").half_count(), 0);
    assert_eq!(
        committed_messages(&mut world),
        vec![b"decide later".to_vec()]
    );
}
