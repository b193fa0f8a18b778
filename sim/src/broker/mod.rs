//! A simulated broker speaking the real codec: sends (single, V2, batch, transactional half
//! messages), pulls with long polling, heartbeats and group membership, consumer offsets, queue
//! offsets, queue locks, send-back to retry/DLQ topics, transaction end and checks, POP (pops
//! with long polling, acks, changes of invisible time: see `pop`), and fault knobs (busy, stall,
//! drop the connection, restart). A model, not a product: only what the client needs is here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rocketwire_core::body::{
    Connection, ConsumerConnection, GetConsumerListByGroupResponseBody, HeartbeatData,
    LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
use rocketwire_core::header::{self as hdr, CommandHeader};
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::time::ManualWallClock;
use rocketwire_core::{RemotingCommand, RequestCode, ResponseCode, WallClock};

use crate::net::LinkId;
use crate::server::{Conns, Incoming, ServerIo};
mod messages;
mod pop;

use crate::store::{AppendMeta, Placement, Store};

/// Settings of a simulated broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Broker name, e.g. `broker-a`.
    pub name: String,
    /// `ip:port` it listens on.
    pub addr: String,
    /// Cluster name.
    pub cluster: String,
    /// Queues of an auto-created topic.
    pub default_queue_nums: i32,
    /// Age of an unresolved half message before it is checked, and the interval between checks.
    pub transaction_check_after: Duration,
    /// Checks before a half message is discarded (Java `transactionCheckMax`, 15).
    pub transaction_check_max: u32,
    /// Lifetime of a queue lock (Java 60 s).
    pub lock_ttl: Duration,
}

impl BrokerConfig {
    /// Defaults for broker `name` at `addr` in cluster `DefaultCluster`.
    pub fn new(name: &str, addr: &str) -> Self {
        Self {
            name: name.to_string(),
            addr: addr.to_string(),
            cluster: "DefaultCluster".to_string(),
            default_queue_nums: 4,
            transaction_check_after: Duration::from_secs(6),
            transaction_check_max: 15,
            lock_ttl: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
struct Half {
    group: String,
    next_check: Instant,
    checks: u32,
}

#[derive(Debug)]
struct Held {
    req: Incoming,
    header: hdr::PullMessageRequestHeader,
    deadline: Instant,
}

/// A simulated broker.
#[derive(Debug)]
pub struct SimBroker {
    config: BrokerConfig,
    wall: ManualWallClock,
    store: Store,
    conns: Conns,
    consumers: BTreeMap<String, BTreeMap<String, LinkId>>,
    producers: BTreeMap<String, BTreeMap<String, LinkId>>,
    locks: BTreeMap<(String, MessageQueue), (String, Instant)>,
    halves: BTreeMap<i64, Half>,
    next_half_offset: i64,
    held: Vec<Held>,
    delayed: BTreeMap<(Instant, u64), MessageExt>,
    seq: u64,
    registrations: Vec<(String, i32)>,
    busy_sends: u32,
    stall_until: Option<Instant>,
    drop_next: bool,
    drop_sends: u32,
    fail_send_backs: u32,
    requests_seen: BTreeMap<i32, u64>,
    /// POP: the group's positions and messages in flight (kept over a restart), held pops,
    /// fault knobs.
    pop: pop::PopModel,
}

impl SimBroker {
    /// A broker with `config`; store timestamps come from `wall`.
    pub fn new(config: BrokerConfig, wall: ManualWallClock) -> Self {
        let host = config
            .addr
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 10911)));
        Self {
            config,
            wall,
            store: Store::new(host),
            conns: Conns::default(),
            consumers: BTreeMap::new(),
            producers: BTreeMap::new(),
            locks: BTreeMap::new(),
            halves: BTreeMap::new(),
            next_half_offset: 0,
            held: Vec::new(),
            delayed: BTreeMap::new(),
            seq: 0,
            registrations: Vec::new(),
            busy_sends: 0,
            stall_until: None,
            drop_next: false,
            drop_sends: 0,
            fail_send_backs: 0,
            requests_seen: BTreeMap::new(),
            pop: pop::PopModel::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The message store (read-only).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Unresolved transaction half messages.
    pub fn half_count(&self) -> usize {
        self.halves.len()
    }

    /// Client ids of a consumer group, as heartbeats registered them.
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumers
            .get(group)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Client ids of a producer group, as heartbeats registered them (and unregistrations or
    /// closed connections removed them).
    pub fn producer_ids(&self, group: &str) -> Vec<String> {
        self.producers
            .get(group)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The client id holding `group`'s lock on `mq` at `now`, if any.
    pub fn lock_owner(&self, group: &str, mq: &MessageQueue, now: Instant) -> Option<&str> {
        self.locks
            .get(&(group.to_string(), mq.clone()))
            .filter(|(_, until)| *until > now)
            .map(|(owner, _)| owner.as_str())
    }

    /// Requests with `code` that arrived (answered or not: stalled and dropped ones count).
    pub fn requests_seen(&self, code: RequestCode) -> u64 {
        self.requests_seen
            .get(&code.code())
            .copied()
            .unwrap_or_default()
    }

    /// Creates `topic` with `nums` queues and registers it with the namesrvs.
    pub fn create_topic(&mut self, topic: &str, nums: i32) {
        if self.store.create_topic(topic, nums) {
            self.registrations.push((topic.to_string(), nums));
        }
    }

    /// Fault: answer SYSTEM_BUSY to the next `n` send requests.
    pub fn busy_next_sends(&mut self, n: u32) {
        self.busy_sends = n;
    }

    /// Fault: swallow every request (never answer) until `until`.
    pub fn stall_until(&mut self, until: Instant) {
        self.stall_until = Some(until);
    }

    /// Fault: close the connection of the next request instead of answering it.
    pub fn drop_next_request(&mut self) {
        self.drop_next = true;
    }

    /// Fault: close the connection of each of the next `n` send requests (single, V2 or
    /// batch) instead of storing and answering them; other requests are served.
    pub fn drop_next_sends(&mut self, n: u32) {
        self.drop_sends = n;
    }

    /// Fault: answer SYSTEM_ERROR to the next `n` CONSUMER_SEND_MSG_BACK requests without
    /// storing anything.
    pub fn fail_next_send_backs(&mut self, n: u32) {
        self.fail_send_backs = n;
    }

    /// Stores `message` straight into queue `queue_id` of its topic (created with the default
    /// queue count if missing), as if a producer had sent it, and answers held pulls of that
    /// queue. Returns the stored record.
    pub fn put_message(&mut self, now: Instant, message: Message, queue_id: i32) -> MessageExt {
        let topic = message.topic.clone();
        let nums = self.config.default_queue_nums;
        self.create_topic(&topic, nums);
        let born = self.wall.now_millis();
        let host = SocketAddr::from(([10, 0, 0, 250], 1));
        let meta = self.meta(0, born, host, 0);
        let stored = self.store.append(message, Placement::Queue(queue_id), meta);
        self.wake(now, &topic, queue_id);
        self.serve_held_pops(now);
        stored
    }

    /// Topic registrations not yet handed to the namesrvs.
    pub(crate) fn take_registrations(&mut self) -> Vec<(String, i32)> {
        std::mem::take(&mut self.registrations)
    }

    /// Restart: every connection, held pull, membership and lock is lost; stored data stays.
    pub(crate) fn crash(&mut self) -> Vec<LinkId> {
        self.held.clear();
        self.pop.crash();
        self.consumers.clear();
        self.producers.clear();
        self.locks.clear();
        self.conns.crash()
    }

    pub(crate) fn poll_io(&mut self) -> Option<ServerIo> {
        self.conns.poll_io()
    }

    pub(crate) fn handle_accept(&mut self, link: LinkId, peer: SocketAddr) {
        self.conns.accept(link, peer);
    }

    pub(crate) fn handle_closed(&mut self, link: LinkId) {
        self.conns.closed(link);
        self.held.retain(|h| h.req.link != link);
        self.pop.link_closed(link);
        self.producers
            .values_mut()
            .for_each(|m| m.retain(|_, l| *l != link));
        let changed: Vec<String> = self
            .consumers
            .iter_mut()
            .filter_map(|(group, members)| {
                let before = members.len();
                members.retain(|_, l| *l != link);
                (members.len() != before).then(|| group.clone())
            })
            .collect();
        for group in changed {
            self.notify_group(&group);
        }
    }

    /// The next instant the broker has work (held pulls, delayed messages, checks).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let held = self.held.iter().map(|h| h.deadline);
        let delayed = self.delayed.keys().map(|(at, _)| *at);
        let checks = self.halves.values().map(|h| h.next_check);
        held.chain(delayed)
            .chain(checks)
            .chain(self.pop.next_due())
            .min()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let (due, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.deadline <= now);
        self.held = keep;
        for held in due {
            if let Some(response) = self.pull(now, &held.req, &held.header, false) {
                self.conns.respond(&held.req, response);
            }
        }
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ext = entry.remove();
            let meta = self.meta(
                ext.sys_flag,
                ext.born_timestamp,
                ext.born_host,
                ext.reconsume_times,
            );
            let queue_id = ext.queue_id;
            let stored = self
                .store
                .append(ext.message, Placement::Queue(queue_id), meta);
            self.wake(now, &stored.message.topic, queue_id);
        }
        let due: Vec<i64> = self
            .halves
            .iter()
            .filter(|(_, h)| h.next_check <= now)
            .map(|(p, _)| *p)
            .collect();
        for phys in due {
            self.check_transaction(now, phys);
        }
        self.serve_held_pops(now);
    }

    pub(crate) fn handle_bytes(&mut self, now: Instant, link: LinkId, bytes: &[u8]) {
        for req in self.conns.receive(link, bytes) {
            if req.cmd.is_response() {
                continue;
            }
            *self.requests_seen.entry(req.cmd.code).or_default() += 1;
            if self.stall_until.is_some_and(|until| now < until) {
                continue;
            }
            let is_send = [
                RequestCode::SendMessage,
                RequestCode::SendMessageV2,
                RequestCode::SendBatchMessage,
            ]
            .iter()
            .any(|c| c.code() == req.cmd.code);
            let drop_send = is_send && self.drop_sends > 0;
            if drop_send {
                self.drop_sends -= 1;
            }
            if std::mem::take(&mut self.drop_next) || drop_send {
                self.conns.close(link);
                self.handle_closed(link);
                return;
            }
            self.handle_request(now, req);
            self.serve_held_pops(now);
        }
    }

    fn handle_request(&mut self, now: Instant, req: Incoming) {
        use RequestCode as R;
        let code = req.cmd.request_code_typed();
        let result = match code {
            R::SendMessage | R::SendMessageV2 | R::SendBatchMessage => self.send(now, &req),
            R::PullMessage => {
                let header = read::<hdr::PullMessageRequestHeader>(&req.cmd);
                match header.map(|h| (self.pull(now, &req, &h, true), h)) {
                    Ok((Some(response), _)) => Ok(response),
                    Ok((None, header)) => {
                        let hold =
                            Duration::from_millis(header.suspend_timeout_millis.max(0) as u64);
                        let deadline = now + hold;
                        self.held.push(Held {
                            req,
                            header,
                            deadline,
                        });
                        return;
                    }
                    Err(e) => Err(e),
                }
            }
            R::HeartBeat => self.heartbeat(&req),
            R::UnregisterClient => self.unregister(&req),
            R::QueryConsumerOffset => {
                read::<hdr::QueryConsumerOffsetRequestHeader>(&req.cmd).map(|h| {
                    match self
                        .store
                        .consumer_offset(&h.consumer_group, &h.topic, h.queue_id)
                    {
                        Some(offset) => offset_response(&req.cmd, offset),
                        None if h.set_zero_if_not_found != Some(false) => {
                            offset_response(&req.cmd, 0)
                        }
                        None => response(&req.cmd, ResponseCode::QueryNotFound, "Not found"),
                    }
                })
            }
            R::UpdateConsumerOffset => read::<hdr::UpdateConsumerOffsetRequestHeader>(&req.cmd)
                .map(|h| {
                    self.store.set_consumer_offset(
                        &h.consumer_group,
                        &h.topic,
                        h.queue_id,
                        h.commit_offset,
                    );
                    RemotingCommand::response_to(&req.cmd, ResponseCode::Success)
                }),
            R::GetMaxOffset => read::<hdr::GetMaxOffsetRequestHeader>(&req.cmd)
                .map(|h| offset_response(&req.cmd, self.store.max_offset(&h.topic, h.queue_id))),
            R::GetMinOffset => read::<hdr::GetMinOffsetRequestHeader>(&req.cmd)
                .map(|_| offset_response(&req.cmd, 0)),
            R::SearchOffsetByTimestamp => {
                read::<hdr::SearchOffsetRequestHeader>(&req.cmd).map(|h| {
                    let b = h.boundary_type.unwrap_or_default();
                    offset_response(
                        &req.cmd,
                        self.store.search(&h.topic, h.queue_id, h.timestamp, b),
                    )
                })
            }
            R::GetConsumerListByGroup => read::<hdr::GetConsumerListByGroupRequestHeader>(&req.cmd)
                .map(|h| {
                    let ids = self.consumer_ids(&h.consumer_group);
                    if ids.is_empty() {
                        let remark = format!("no consumer for this group, {}", h.consumer_group);
                        return response(&req.cmd, ResponseCode::SystemError, &remark);
                    }
                    let body = GetConsumerListByGroupResponseBody {
                        consumer_id_list: ids,
                    };
                    success(&req.cmd).with_body(body.encode())
                }),
            R::GetConsumerConnectionList => {
                read::<hdr::GetConsumerConnectionListRequestHeader>(&req.cmd).map(|h| {
                    let Some(members) = self.consumers.get(&h.consumer_group) else {
                        let remark = format!("the consumer group[{}] not online", h.consumer_group);
                        return response(&req.cmd, ResponseCode::ConsumerNotOnline, &remark);
                    };
                    // One connection per member, its link standing in for its address.
                    let body = ConsumerConnection {
                        connection_set: members
                            .iter()
                            .map(|(client_id, link)| Connection {
                                client_id: client_id.clone(),
                                client_addr: format!("sim-link:{}", link.0),
                                language: "RUST".into(),
                                version: 0,
                            })
                            .collect(),
                        ..ConsumerConnection::default()
                    };
                    success(&req.cmd).with_body(body.encode())
                })
            }
            R::LockBatchMq => self.lock(now, &req),
            R::UnlockBatchMq => self.unlock(&req),
            R::ConsumerSendMsgBack => self.send_back(now, &req),
            R::EndTransaction => self.end_transaction(now, &req),
            R::PopMessage => match self.pop_message(now, &req) {
                Some(result) => result,
                None => return,
            },
            R::AckMessage => match self.pop_ack(&req) {
                Some(result) => result,
                None => return,
            },
            R::ChangeMessageInvisibleTime => self.change_invisible(now, &req),
            _ => Ok(response(
                &req.cmd,
                ResponseCode::RequestCodeNotSupported,
                &format!("request type {} not supported", req.cmd.code),
            )),
        };
        let answer =
            result.unwrap_or_else(|remark| response(&req.cmd, ResponseCode::SystemError, &remark));
        self.conns.respond(&req, answer);
    }

    fn heartbeat(&mut self, req: &Incoming) -> Result<RemotingCommand, String> {
        let data = HeartbeatData::decode(&req.cmd.body).map_err(|e| e.to_string())?;
        for p in &data.producer_data_set {
            self.producers
                .entry(p.group_name.clone())
                .or_default()
                .insert(data.client_id.clone(), req.link);
        }
        for c in &data.consumer_data_set {
            let members = self.consumers.entry(c.group_name.clone()).or_default();
            if members.insert(data.client_id.clone(), req.link).is_none() {
                self.notify_group(&c.group_name);
            }
        }
        Ok(success(&req.cmd))
    }

    fn unregister(&mut self, req: &Incoming) -> Result<RemotingCommand, String> {
        let h = read::<hdr::UnregisterClientRequestHeader>(&req.cmd)?;
        if let Some(group) = h.producer_group {
            self.producers
                .entry(group)
                .or_default()
                .remove(&h.client_id);
        }
        if let Some(group) = h.consumer_group {
            if self
                .consumers
                .entry(group.clone())
                .or_default()
                .remove(&h.client_id)
                .is_some()
            {
                self.notify_group(&group);
            }
        }
        Ok(success(&req.cmd))
    }

    fn notify_group(&mut self, group: &str) {
        let links: BTreeSet<LinkId> = self
            .consumers
            .get(group)
            .into_iter()
            .flat_map(|m| m.values().copied())
            .collect();
        let header = hdr::NotifyConsumerIdsChangedRequestHeader {
            consumer_group: group.to_string(),
        };
        for link in links {
            self.conns.send_oneway(
                link,
                hdr::request(RequestCode::NotifyConsumerIdsChanged, &header),
            );
        }
    }

    fn lock(&mut self, now: Instant, req: &Incoming) -> Result<RemotingCommand, String> {
        let body = LockBatchRequestBody::decode(&req.cmd.body).map_err(|e| e.to_string())?;
        let mut ok = LockBatchResponseBody::default();
        for mq in body.mq_set {
            let key = (body.consumer_group.clone(), mq.clone());
            let free = self
                .locks
                .get(&key)
                .is_none_or(|(owner, until)| *owner == body.client_id || *until <= now);
            if free {
                self.locks
                    .insert(key, (body.client_id.clone(), now + self.config.lock_ttl));
                ok.lock_ok_mq_set.insert(mq);
            }
        }
        Ok(success(&req.cmd).with_body(ok.encode()))
    }

    fn unlock(&mut self, req: &Incoming) -> Result<RemotingCommand, String> {
        let body = UnlockBatchRequestBody::decode(&req.cmd.body).map_err(|e| e.to_string())?;
        for mq in body.mq_set {
            let key = (body.consumer_group.clone(), mq);
            if self
                .locks
                .get(&key)
                .is_some_and(|(owner, _)| *owner == body.client_id)
            {
                self.locks.remove(&key);
            }
        }
        Ok(success(&req.cmd))
    }

    fn meta(
        &self,
        sys_flag: i32,
        born_timestamp: i64,
        born_host: SocketAddr,
        reconsume: i32,
    ) -> AppendMeta {
        AppendMeta {
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp: self.wall.now_millis(),
            reconsume_times: reconsume,
        }
    }
}

fn read<H: CommandHeader>(cmd: &RemotingCommand) -> Result<H, String> {
    hdr::read::<H>(cmd).map_err(|e| e.to_string())
}

fn success(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
}

fn response(request: &RemotingCommand, code: ResponseCode, remark: &str) -> RemotingCommand {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

fn offset_response(request: &RemotingCommand, offset: i64) -> RemotingCommand {
    success(request).with_ext_fields(hdr::OffsetResponseHeader { offset }.to_fields())
}
