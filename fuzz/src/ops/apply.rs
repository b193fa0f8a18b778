//! Applying ops: user commands, and the misuse each must answer for ids it did not hand out.

use super::*;

impl OpsHarness {
    /// A core configured by `flag_bits` (see [`flags`]), seeded with `seed`.
    pub fn new(seed: u8, flag_bits: u8) -> Self {
        #[allow(clippy::disallowed_methods)] // the origin of virtual time
        let base = Instant::now();
        let n = if flag_bits & flags::TWO_NAMESRVS != 0 {
            2
        } else {
            1
        };
        let mut config = ClientConfig::new(NAMESRVS[..n].iter().map(|s| s.to_string()).collect());
        config.pid = 1;
        if flag_bits & flags::BINARY != 0 {
            config.serialize_type = SerializeType::RocketMq;
        }
        if flag_bits & flags::SHORT_INTERVALS != 0 {
            config.route_refresh_interval = Duration::from_secs(1);
            config.heartbeat_interval = Duration::from_secs(1);
        }
        if flag_bits & flags::SHORT_CONNECT != 0 {
            config.connect_timeout = Duration::from_millis(500);
        }
        if flag_bits & flags::SMALL_FRAMES != 0 {
            config.max_frame_len = 4096;
        }
        let max_frame_len = config.max_frame_len;
        let wall_base = 1_700_000_000_000;
        let wall = ManualWallClock::new(wall_base);
        let core = ClientCore::new(config, Box::new(wall.clone()), u64::from(seed), base);
        Self {
            core,
            wall,
            wall_base,
            base,
            now: base,
            flags: flag_bits,
            max_frame_len,
            conns: Vec::new(),
            conn_index: HashMap::new(),
            producers: Vec::new(),
            consumers: Vec::new(),
            deliveries: Vec::new(),
            seen_deliveries: HashSet::new(),
            settled: Vec::new(),
            abandoned_in_drain: HashSet::new(),
            answer_tokens: Vec::new(),
            local_transactions: Vec::new(),
            checks: Vec::new(),
            ops: BTreeMap::new(),
            deadline: None,
            closed: false,
            quiet: false,
            reentrant: None,
            in_drain: false,
            store_offset: 0,
            transcript: None,
            seen: OpsSeen::default(),
        }
    }

    /// Applies one op, then drains.
    pub fn step(&mut self, op: Op) {
        self.seen.ops += 1;
        self.log(|| format!("{op:?}"));
        self.apply(op);
        self.drain();
    }

    // ---- ids -------------------------------------------------------------------------------

    pub(super) fn pick_producer(&self, b: u8) -> ProducerId {
        if b >= 0xF0 || self.producers.is_empty() {
            return ProducerId(1000 + u32::from(b));
        }
        self.producers[usize::from(b) % self.producers.len()].0
    }

    pub(super) fn pick_consumer(&self, b: u8) -> ConsumerId {
        if b >= 0xF0 || self.consumers.is_empty() {
            return ConsumerId(1000 + u32::from(b));
        }
        self.consumers[usize::from(b) % self.consumers.len()].id
    }

    pub(super) fn pick_conn(&self, b: u8) -> ConnId {
        if b >= 0xF0 || self.conns.is_empty() {
            return ConnId(1000 + u64::from(b));
        }
        self.conns[usize::from(b) % self.conns.len()].id
    }

    /// A connection the core still has (peer bytes go there), or a bogus one.
    pub(super) fn pick_live_conn(&self, b: u8) -> ConnId {
        let live: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.state != ConnState::Gone)
            .map(|c| c.id)
            .collect();
        if b >= 0xF0 || live.is_empty() {
            return self.pick_conn(b);
        }
        live[usize::from(b) % live.len()]
    }

    pub(super) fn pick_queue(b: u8) -> MessageQueue {
        let all = queues();
        match all.get(usize::from(b) % (all.len() + 1)) {
            Some(q) => q.clone(),
            None => bogus_queue(),
        }
    }

    pub(super) fn queue_set(mask: u8) -> Vec<MessageQueue> {
        let mut out: Vec<MessageQueue> = queues()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, q)| q)
            .collect();
        if mask == 0xFF {
            out.push(bogus_queue());
        }
        out
    }

    /// What the core must answer a command naming producer `id`.
    pub(super) fn producer_expectation(&self, id: ProducerId) -> Result<(), Misuse> {
        match self.producers.iter().find(|(p, _)| *p == id) {
            Some((_, Life::Live)) => Ok(()),
            Some((_, Life::Closing)) => Err(Misuse::ProducerClosing(id)),
            Some((_, Life::Closed)) | None => Err(Misuse::UnknownProducer(id)),
        }
    }

    /// What the core must answer a command naming consumer `id` (before checks particular
    /// to the command).
    pub(super) fn consumer_expectation(&self, id: ConsumerId) -> Result<&ConsumerInfo, Misuse> {
        match self.consumers.iter().find(|c| c.id == id) {
            Some(c) if c.life == Life::Live => Ok(c),
            Some(c) if c.life == Life::Closing => Err(Misuse::ConsumerClosing(id)),
            _ => Err(Misuse::UnknownConsumer(id)),
        }
    }

    pub(super) fn consumer_mut(&mut self, id: ConsumerId) -> Option<&mut ConsumerInfo> {
        self.consumers.iter_mut().find(|c| c.id == id)
    }

    /// Checks a command's answer against the expected one; returns the op id if accepted.
    pub(super) fn check_answer<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        got: Result<T, Misuse>,
        expected: Result<(), Misuse>,
    ) -> Option<T> {
        match (got, expected) {
            (Ok(v), Ok(())) => Some(v),
            (Err(got), _) if self.closed_meanwhile(&got) => {
                self.log(|| format!("  refused {what}: {got:?} (closed, result queued)"));
                self.seen.misuse += 1;
                None
            }
            (Err(got), Err(want)) => {
                assert_eq!(got, want, "{what}: wrong misuse");
                self.log(|| format!("  refused {what}: {got:?}"));
                self.seen.misuse += 1;
                None
            }
            (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
        }
    }

    /// Inside a drain, a close may have finished in the core with its result still queued
    /// behind the event being handled: the id it refuses as unknown is one closing here.
    fn closed_meanwhile(&self, got: &Misuse) -> bool {
        self.in_drain
            && match got {
                Misuse::UnknownProducer(p) => self
                    .producers
                    .iter()
                    .any(|(q, life)| q == p && *life == Life::Closing),
                Misuse::UnknownConsumer(c) => self
                    .consumers
                    .iter()
                    .any(|x| x.id == *c && x.life == Life::Closing),
                _ => false,
            }
    }

    /// Whether the core may have given up delivery `d` (consume timeout).
    pub(super) fn may_have_expired(&self, d: &DeliveryInfo) -> bool {
        self.consumers
            .iter()
            .find(|c| c.id == d.consumer)
            .and_then(|c| c.consume_timeout)
            .is_some_and(|t| self.now.saturating_duration_since(d.at) >= t)
    }

    /// Acks a delivery the user holds: accepted, unless the core may have given it up.
    pub(super) fn ack_held(&mut self, d: DeliveryInfo, outcome: ConsumeOutcome) {
        let got = self.core.ack(self.now, d.id, outcome);
        match got {
            Ok(()) => {}
            Err(Misuse::UnknownDelivery(id))
                if id == d.id && (d.maybe_abandoned || self.may_have_expired(&d)) =>
            {
                self.seen.misuse += 1;
            }
            Err(e) => panic!("ack of delivery {:?} the user holds refused: {e:?}", d.id),
        }
        self.settle_delivery(d.id);
    }

    /// Remembers a settled delivery: acking it again is misuse (also while the core sends its
    /// messages back).
    pub(super) fn settle_delivery(&mut self, id: DeliveryId) {
        if self.settled.len() >= 64 {
            self.settled.remove(0);
        }
        self.settled.push(id);
    }

    pub(super) fn new_op(&mut self, op: OpId, kind: OpKind) {
        let old = self.ops.insert(
            op,
            OpRecord {
                kind,
                results: 0,
                local_transaction: false,
            },
        );
        assert!(old.is_none(), "op id {op:?} handed out twice");
    }

    // ---- ops -------------------------------------------------------------------------------

    /// Applies one op without draining.
    pub fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::CreateProducer { group, options } => {
                if self.producers.len() >= MAX_CLIENTS {
                    return;
                }
                let mut config = ProducerConfig::builder(PRODUCER_GROUPS[usize::from(group) % 2])
                    .build()
                    .expect("valid group");
                config.send_timeout = match (options >> 2) & 3 {
                    1 => Duration::from_millis(500),
                    2 => Duration::from_secs(10),
                    _ => Duration::from_secs(3),
                };
                config.retry_times_when_send_failed = u32::from((options >> 4) & 3);
                config.send_latency_fault_enable = options & 0x40 == 0;
                if options & 0x80 != 0 {
                    config.max_timeout_per_attempt = Some(Duration::from_millis(400));
                }
                let selector = match options % 4 {
                    1 => QueueSelector::Random,
                    2 => QueueSelector::Hash,
                    _ => QueueSelector::RoundRobin,
                };
                let id = self.core.create_producer(now, config, selector);
                assert!(
                    self.producers.iter().all(|(p, _)| *p != id),
                    "producer id {id:?} reused"
                );
                self.producers.push((id, Life::Live));
            }
            Op::CloseProducer { producer } => {
                let id = self.pick_producer(producer);
                let expected = self.producer_expectation(id);
                let got = self.core.close_producer(now, id);
                if let Some(op) = self.check_answer("close_producer", got, expected) {
                    self.new_op(op, OpKind::CloseProducer(id));
                    if let Some(p) = self.producers.iter_mut().find(|(p, _)| *p == id) {
                        p.1 = Life::Closing;
                    }
                }
            }
            Op::Send {
                producer,
                topic,
                mode,
                target,
                body,
            } => {
                let id = self.pick_producer(producer);
                let message = make_message(SEND_TOPICS[usize::from(topic) % 4], body);
                let mode = send_mode(mode);
                let target = if target % 4 == 3 {
                    SendTarget::Queue(Self::pick_queue(target >> 2))
                } else {
                    SendTarget::Default
                };
                let expected = self.producer_expectation(id);
                let got = self.core.send(now, id, message, target, mode);
                if let Some(op) = self.check_answer("send", got, expected) {
                    let oneway = mode == SendMode::Oneway;
                    self.new_op(op, OpKind::Send { oneway });
                }
            }
            Op::SendBatch {
                producer,
                topic,
                count,
                mode,
            } => {
                let id = self.pick_producer(producer);
                let messages: Vec<Message> = (0..count % 5)
                    .map(|i| {
                        let t = if count & 0x80 != 0 {
                            topic.wrapping_add(i)
                        } else {
                            topic
                        };
                        make_message(SEND_TOPICS[usize::from(t) % 4], i.wrapping_mul(7))
                    })
                    .collect();
                let mode = send_mode(mode);
                let expected = self.producer_expectation(id);
                let got = self
                    .core
                    .send_batch(now, id, messages, SendTarget::Default, mode);
                if let Some(op) = self.check_answer("send_batch", got, expected) {
                    let oneway = mode == SendMode::Oneway;
                    self.new_op(op, OpKind::Send { oneway });
                }
            }
            Op::SendTransactional { producer, topic } => {
                let id = self.pick_producer(producer);
                let message = make_message(SEND_TOPICS[usize::from(topic) % 4], topic >> 2);
                let expected = self.producer_expectation(id);
                let got = self.core.send_transactional(now, id, message);
                if let Some(op) = self.check_answer("send_transactional", got, expected) {
                    self.new_op(op, OpKind::Transactional);
                }
            }
            Op::EndLocalTransaction { token, state } => {
                if self.local_transactions.is_empty() {
                    return;
                }
                let i = usize::from(token) % self.local_transactions.len();
                let (_, token) = self.local_transactions.swap_remove(i);
                let remark = (state & 4 != 0).then(|| "local transaction failed".to_string());
                self.core
                    .end_local_transaction(now, token, transaction_state(state), remark);
            }
            Op::AnswerCheck { token, state } => {
                if self.checks.is_empty() {
                    return;
                }
                let i = usize::from(token) % self.checks.len();
                let token = self.checks.swap_remove(i);
                self.core
                    .answer_transaction_check(now, token, transaction_state(state));
            }
            Op::CreateConsumer {
                group,
                kind,
                topics,
                offsets,
            } => {
                if self.consumers.len() >= MAX_CLIENTS {
                    return;
                }
                self.create_consumer(group, kind, topics, offsets);
            }
            Op::CloseConsumer { consumer } => {
                let id = self.pick_consumer(consumer);
                let expected = self.consumer_expectation(id).map(|_| ());
                let got = self.core.close_consumer(now, id);
                if let Some(op) = self.check_answer("close_consumer", got, expected) {
                    self.new_op(op, OpKind::CloseConsumer(id));
                    if let Some(c) = self.consumer_mut(id) {
                        c.life = Life::Closing;
                    }
                }
            }
            Op::Ack { delivery, outcome } => {
                let outcome = match outcome % 4 {
                    0 => ConsumeOutcome::Success,
                    1 => ConsumeOutcome::ReconsumeLater {
                        delay_level: i32::from(outcome >> 2) % 5 - 1,
                    },
                    2 => ConsumeOutcome::SuspendCurrentQueue(match outcome >> 2 {
                        0 => None,
                        n => Some(Duration::from_millis(u64::from(n) * 40)),
                    }),
                    _ => ConsumeOutcome::Abandon,
                };
                if delivery < 0xF0 && !self.deliveries.is_empty() {
                    let i = usize::from(delivery) % self.deliveries.len();
                    let d = self.deliveries.swap_remove(i);
                    self.ack_held(d, outcome);
                    return;
                }
                // Acked before, abandoned, or never handed out.
                let id = match self.settled.len() {
                    n if n > 0 && delivery % 2 == 1 => self.settled[usize::from(delivery) % n],
                    _ => DeliveryId((1 << 40) + u64::from(delivery)),
                };
                let got = self.core.ack(now, id, outcome);
                self.check_answer("ack", got, Err(Misuse::UnknownDelivery(id)));
            }
            Op::Seek {
                consumer,
                queue,
                offset,
            } => {
                let id = self.pick_consumer(consumer);
                let offset = match offset {
                    0xFD => -1,
                    0xFE => i64::MAX,
                    0xFF => i64::MIN,
                    n => i64::from(n),
                };
                let queue = Self::pick_queue(queue);
                let expected = match self.consumer_expectation(id) {
                    _ if offset < 0 => Err(Misuse::NegativeOffset { offset }),
                    other => other.map(|_| ()),
                };
                let held = self.core.assigned_queues(id).contains(&queue);
                let got = self.core.seek(now, id, &queue, offset);
                match got {
                    Err(Misuse::QueueNotHeld { consumer, queue: q })
                        if expected.is_ok() && !held =>
                    {
                        assert_eq!((consumer, &q), (id, &queue));
                        self.log(|| format!("  refused seek: {queue:?} not held"));
                        self.seen.misuse += 1;
                    }
                    got => {
                        self.check_answer("seek", got, expected);
                    }
                }
            }
            Op::Commit { consumer } => {
                let id = self.pick_consumer(consumer);
                let expected = self.consumer_expectation(id).map(|_| ());
                let got = self.core.commit_offsets(now, id);
                if let Some(op) = self.check_answer("commit_offsets", got, expected) {
                    self.new_op(op, OpKind::Commit(id));
                }
            }
            Op::Pause { consumer, queues } => {
                let id = self.pick_consumer(consumer);
                let expected = self.consumer_expectation(id).map(|_| ());
                let got = self.core.pause(id, &Self::queue_set(queues));
                self.check_answer("pause", got, expected);
            }
            Op::Resume { consumer, queues } => {
                let id = self.pick_consumer(consumer);
                let expected = self.consumer_expectation(id).map(|_| ());
                let got = self.core.resume(now, id, &Self::queue_set(queues));
                self.check_answer("resume", got, expected);
            }
            Op::Subscribe {
                consumer,
                topic,
                expr,
            } => {
                let id = self.pick_consumer(consumer);
                let topic = SUB_TOPICS[usize::from(topic) % 3];
                if let Some(sub) = subscription(topic, expr) {
                    let expected = match self.consumer_expectation(id) {
                        Ok(c) if c.assigned => Err(Misuse::Assigned(id)),
                        other => other.map(|_| ()),
                    };
                    let got = self.core.subscribe(now, id, sub);
                    if self.check_answer("subscribe", got, expected).is_some() {
                        if let Some(c) = self.consumer_mut(id) {
                            c.subs.insert(topic.to_string());
                        }
                    }
                }
            }
            Op::Unsubscribe { consumer, topic } => {
                let id = self.pick_consumer(consumer);
                let topic = match topic % 4 {
                    3 => "%RETRY%cg0",
                    t => SUB_TOPICS[usize::from(t)],
                };
                let expected = match self.consumer_expectation(id) {
                    Ok(c) if c.assigned => Err(Misuse::Assigned(id)),
                    Ok(c) if !c.subs.contains(topic) => Err(Misuse::NotSubscribed {
                        consumer: id,
                        topic: topic.to_string(),
                    }),
                    other => other.map(|_| ()),
                };
                let got = self.core.unsubscribe(now, id, topic);
                if self.check_answer("unsubscribe", got, expected).is_some() {
                    if let Some(c) = self.consumer_mut(id) {
                        c.subs.remove(topic);
                    }
                }
            }
            Op::Assign { consumer, queues } => {
                let id = self.pick_consumer(consumer);
                let expected = self.consumer_expectation(id).map(|_| ());
                let set = Self::queue_set(queues);
                let got = self.core.assign(now, id, set.clone());
                if self.check_answer("assign", got, expected).is_some() {
                    if let Some(c) = self.consumer_mut(id) {
                        c.assigned = true;
                        c.subs.extend(set.into_iter().map(|q| q.topic));
                    }
                }
            }
            Op::AbandonDeliveries { consumer } => {
                let id = self.pick_consumer(consumer);
                // Closing consumers are what it is for.
                let expected = match self.consumer_expectation(id) {
                    Err(Misuse::ConsumerClosing(_)) => Ok(()),
                    other => other.map(|_| ()),
                };
                let got = self.core.abandon_deliveries(now, id);
                if self
                    .check_answer("abandon_deliveries", got, expected)
                    .is_some()
                {
                    if self.in_drain {
                        self.abandoned_in_drain.insert(id);
                    }
                    // The core forgot them: acking them now is acking unknown ids.
                    let (gone, kept) = std::mem::take(&mut self.deliveries)
                        .into_iter()
                        .partition(|d| d.consumer == id);
                    self.deliveries = kept;
                    for d in gone {
                        self.settle_delivery(d.id);
                    }
                }
            }
            Op::QueryRoute { topic } => {
                let op = self
                    .core
                    .query_route(now, SEND_TOPICS[usize::from(topic) % 4]);
                self.new_op(op, OpKind::Route);
            }
            Op::Invoke {
                addr,
                code,
                timeout,
            } => {
                let addr = INVOKE_ADDRS[usize::from(addr) % INVOKE_ADDRS.len()];
                let command = RemotingCommand::request_code(INVOKE_CODES[usize::from(code) % 6])
                    .with_field("topic", "FuzzTopic")
                    .with_body(vec![code; usize::from(code >> 4)]);
                let timeout = Duration::from_millis(u64::from(timeout) * 50);
                let op = self.core.invoke(now, addr, command, timeout);
                self.new_op(op, OpKind::Invoke);
            }
            Op::InvokeOneway { addr, code } => {
                let addr = INVOKE_ADDRS[usize::from(addr) % INVOKE_ADDRS.len()];
                let command = RemotingCommand::request_code(INVOKE_CODES[usize::from(code) % 6]);
                self.core.invoke_oneway(now, addr, command);
            }
            Op::Answer { token, code } => {
                if self.answer_tokens.is_empty() {
                    return;
                }
                let i = usize::from(token) % self.answer_tokens.len();
                let token = self.answer_tokens.swap_remove(i);
                let code = if code % 2 == 0 {
                    ResponseCode::Success
                } else {
                    ResponseCode::SystemError
                };
                let response =
                    RemotingCommand::response_to(&RemotingCommand::request_code(0), code)
                        .with_remark("answered");
                self.core.answer(now, token, response);
            }
            Op::Close {} => {
                self.core.close(now);
                self.closed = true;
            }
            Op::Connected { conn } => {
                let id = self.pick_conn(conn);
                self.input(Input::Connected(id));
                // Bit 7: the adapter also tells the connection's local address.
                if conn & 0x80 != 0 {
                    let local = format!("127.0.0.1:{}", 40000 + u32::from(conn));
                    self.input(Input::LocalAddr(id, local));
                }
            }
            Op::ConnectFailed { conn } => {
                let id = self.pick_conn(conn);
                // Bit 7: the connection opened but its TLS handshake failed.
                if conn & 0x80 != 0 {
                    let error = rocketwire_core::TlsError::UntrustedCertificate("fuzz".into());
                    self.input(Input::TlsFailed(id, error));
                } else {
                    self.input(Input::ConnectFailed(id, "refused".to_string()));
                }
            }
            Op::Closed { conn } => {
                let id = self.pick_conn(conn);
                self.input(Input::Closed(id));
            }
            Op::Respond {
                request,
                variant,
                cut,
            } => {
                let outstanding: Vec<(usize, usize)> = self
                    .conns
                    .iter()
                    .enumerate()
                    .flat_map(|(c, conn)| (0..conn.requests.len()).map(move |r| (c, r)))
                    .collect();
                if outstanding.is_empty() {
                    return;
                }
                let (c, r) = outstanding[usize::from(request) % outstanding.len()];
                self.respond(c, r, variant, cut);
            }
            Op::RespondAll { variant } => {
                let snapshot: Vec<(ConnId, i32)> = self
                    .conns
                    .iter()
                    .flat_map(|c| c.requests.iter().map(move |r| (c.id, r.opaque)))
                    .collect();
                for (conn, opaque) in snapshot {
                    let Some(&c) = self.conn_index.get(&conn) else {
                        continue;
                    };
                    if let Some(r) = self.conns[c]
                        .requests
                        .iter()
                        .position(|r| r.opaque == opaque)
                    {
                        self.respond(c, r, variant, 0);
                    }
                }
            }
            Op::PeerRequest {
                conn,
                kind,
                arg,
                cut,
            } => {
                let id = self.pick_live_conn(conn);
                self.peer_request(id, kind, arg, cut);
            }
            Op::StaleResponse { conn, opaque } => {
                let id = self.pick_live_conn(conn);
                let opaque = match self.conn_index.get(&id).map(|&c| &self.conns[c].answered) {
                    Some(answered) if !answered.is_empty() && opaque < 0x80 => {
                        answered[usize::from(opaque) % answered.len()]
                    }
                    _ => 0x4000_0000 + i32::from(opaque),
                };
                let mut cmd = RemotingCommand::response_to(
                    &RemotingCommand::request_code(0),
                    ResponseCode::Success,
                );
                cmd.opaque = opaque;
                let bytes = encode_to_vec(&cmd, SerializeType::Json).expect("encodable");
                self.feed(id, &bytes, 0);
            }
            Op::Garbage { conn, bytes } => {
                let id = self.pick_live_conn(conn);
                self.feed(id, &bytes, 0);
            }
            Op::Advance { ms } => {
                self.advance(Duration::from_millis(u64::from(ms)), ms & 1 == 0);
            }
            Op::AdvanceMid { ms } => {
                self.advance(Duration::from_millis(u64::from(ms) * 16), true);
            }
            Op::AdvanceLong { secs } => {
                self.advance(Duration::from_secs(u64::from(secs)), true);
            }
            Op::AdvanceToDeadline {} => {
                if let Some(at) = self.deadline {
                    let by = at.saturating_duration_since(self.now);
                    self.advance(by, true);
                }
            }
            Op::ConnectAll {} => {
                let opening: Vec<ConnId> = self
                    .conns
                    .iter()
                    .filter(|c| c.state == ConnState::Opening)
                    .map(|c| c.id)
                    .collect();
                for id in opening {
                    self.input(Input::Connected(id));
                }
            }
            Op::Reentrant {} => {}
        }
    }

    pub(super) fn create_consumer(&mut self, group: u8, kind: u8, topics: u8, offsets: u8) {
        let now = self.now;
        let lite = kind & 1 != 0;
        let mut config = ConsumerConfig::builder(CONSUMER_GROUPS[usize::from(group) % 2])
            .build()
            .expect("valid group");
        if kind & 2 != 0 {
            config.message_model = MessageModel::Broadcasting;
        }
        if kind & 4 != 0 {
            config.consume_mode = ConsumeMode::Orderly;
        }
        config.consume_from_where = match (kind >> 3) % 6 {
            0 => ConsumeFromWhere::LastOffset,
            1 => ConsumeFromWhere::FirstOffset,
            2 => ConsumeFromWhere::MinOffset,
            3 => ConsumeFromWhere::MaxOffset,
            4 => ConsumeFromWhere::Timestamp,
            _ => ConsumeFromWhere::LastOffsetAndFromMinWhenBootFirst,
        };
        if kind & 0x40 != 0 {
            config.consume_batch_max_size = 4;
            config.max_reconsume_times = Some(1);
        }
        if kind & 0x80 != 0 {
            config.rebalance_interval = Duration::from_secs(1);
            config.persist_interval = Duration::from_secs(1);
            config.lock_interval = Duration::from_secs(1);
            config.consume_timeout = Duration::from_secs(2);
            config.pull_threshold_for_queue = 3;
            config.pull_timeout = Duration::from_secs(2);
            config.delay_after_error = Duration::from_millis(200);
        }
        let subscriptions: Vec<Subscription> = SUB_TOPICS
            .iter()
            .enumerate()
            .filter(|(i, _)| topics & (1 << i) != 0)
            .filter_map(|(i, t)| subscription(t, topics >> (3 + i)))
            .collect();
        let file;
        let local: Option<&[u8]> = match offsets % 4 {
            0 => None,
            1 => {
                let table: BTreeMap<MessageQueue, i64> = queues()
                    .into_iter()
                    .step_by(2)
                    .map(|q| (q, i64::from(offsets >> 2)))
                    .collect();
                file = encode_offset_file(&table);
                Some(&file)
            }
            2 => Some(b"{\"offsetTable\":{oops"),
            _ => Some(b""),
        };
        let garbage = offsets % 4 == 2;
        let no_subs = subscriptions.is_empty();
        let mut subs: HashSet<String> = subscriptions
            .iter()
            .map(|s| s.topic().to_string())
            .collect();
        if config.message_model == MessageModel::Clustering && !lite {
            subs.insert(format!("%RETRY%{}", config.group));
        }
        let consume_timeout = (config.consume_mode == ConsumeMode::Concurrently && !lite)
            .then_some(config.consume_timeout);
        let result = if lite {
            self.core
                .create_lite_consumer(now, config, subscriptions, local)
        } else {
            self.core.create_consumer(now, config, subscriptions, local)
        };
        match result {
            Ok(id) => {
                assert!(
                    !self.closed && !no_subs && !garbage,
                    "consumer created against the rules"
                );
                assert!(
                    self.consumers.iter().all(|c| c.id != id),
                    "consumer id {id:?} reused"
                );
                self.consumers.push(ConsumerInfo {
                    id,
                    life: Life::Live,
                    assigned: false,
                    subs,
                    consume_timeout,
                });
            }
            Err(ConsumerError::Shutdown) => assert!(self.closed),
            Err(ConsumerError::NoSubscription) => assert!(no_subs),
            Err(ConsumerError::OffsetFile(_)) => assert!(garbage),
            Err(e) => panic!("unexpected consumer error {e:?}"),
        }
    }
}

pub(super) fn send_mode(b: u8) -> SendMode {
    match b % 3 {
        0 => SendMode::Sync,
        1 => SendMode::Async,
        _ => SendMode::Oneway,
    }
}

pub(super) fn transaction_state(b: u8) -> TransactionState {
    match b % 3 {
        0 => TransactionState::Commit,
        1 => TransactionState::Rollback,
        _ => TransactionState::Unknown,
    }
}

/// A message for `topic`; `shape` picks the body (small, empty, compressible, tiny) and
/// properties (tags, keys, sharding key, delay level).
pub(super) fn make_message(topic: &str, shape: u8) -> Message {
    let body = match shape % 4 {
        0 => vec![b'x'; 16],
        1 => Vec::new(),
        2 => b"compressible ".repeat(400),
        _ => vec![shape; 3],
    };
    let mut m = Message::new(topic, body);
    if shape & 4 != 0 {
        let _ = m.set_tags("TagA");
    }
    if shape & 8 != 0 {
        let _ = m.set_keys(["k1", "k2"]);
    }
    if shape & 0x10 != 0 {
        let _ = m.set_property(keys::SHARDING_KEY, "order-7");
    }
    if shape & 0x20 != 0 {
        let _ = m.set_property(keys::DELAY_TIME_LEVEL, "3");
    }
    m
}

pub(super) fn subscription(topic: &str, expr: u8) -> Option<Subscription> {
    match expr % 4 {
        0 => Subscription::tag(topic, "*").ok(),
        1 => Subscription::tag(topic, "TagA").ok(),
        2 => Subscription::tag(topic, "TagA || TagB").ok(),
        _ => Subscription::sql92(topic, "a > 1").ok(),
    }
}
