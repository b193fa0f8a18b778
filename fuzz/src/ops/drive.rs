//! Driving the core: inputs, time, draining with every output checked, and the end.

use super::*;

impl OpsHarness {
    // ---- inputs and time -------------------------------------------------------------------

    pub(super) fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(sink) = &mut self.transcript {
            let ms = self.now.saturating_duration_since(self.base).as_millis();
            sink(format!("+{ms}ms {}", line()));
        }
    }

    pub(super) fn input(&mut self, input: Input) {
        match &input {
            Input::Connected(id) => {
                if let Some(&c) = self.conn_index.get(id) {
                    if self.conns[c].state == ConnState::Opening {
                        self.conns[c].state = ConnState::Open;
                    }
                }
            }
            Input::ConnectFailed(id, _) | Input::TlsFailed(id, _) | Input::Closed(id) => {
                self.gone(*id)
            }
            Input::Received(..) | Input::LocalAddr(..) | Input::Timeout => {}
        }
        self.core.handle_input(self.now, input);
        self.drain();
    }

    pub(super) fn gone(&mut self, id: ConnId) {
        if let Some(&c) = self.conn_index.get(&id) {
            let conn = &mut self.conns[c];
            conn.state = ConnState::Gone;
            conn.requests.clear();
        }
    }

    pub(super) fn advance(&mut self, by: Duration, report: bool) {
        self.now += by;
        let elapsed = self.now.saturating_duration_since(self.base).as_millis();
        self.wall
            .set(self.wall_base + i64::try_from(elapsed).unwrap_or(i64::MAX / 2));
        if report {
            self.input(Input::Timeout);
        }
    }

    // ---- outputs ---------------------------------------------------------------------------

    /// Drains `poll_output`, checking every output; with [`flags::AUTO_CONNECT`], reports
    /// new connections open and drains again.
    pub fn drain(&mut self) {
        if self.in_drain {
            // Only commands run inside a drain, and they do not drain; this is a safety net.
            return;
        }
        self.in_drain = true;
        loop {
            self.drain_once();
            let opening: Vec<ConnId> = if self.flags & flags::AUTO_CONNECT != 0 {
                self.conns
                    .iter()
                    .filter(|c| c.state == ConnState::Opening)
                    .map(|c| c.id)
                    .collect()
            } else {
                Vec::new()
            };
            if opening.is_empty() {
                break;
            }
            for id in opening {
                self.conns[self.conn_index[&id]].state = ConnState::Open;
                self.core.handle_input(self.now, Input::Connected(id));
            }
        }
        self.in_drain = false;
        self.abandoned_in_drain.clear();
        // Whatever the core had queued when it closed is out now: from here on it must not
        // open or write anything.
        self.quiet = self.closed;
    }

    pub(super) fn drain_once(&mut self) {
        for _ in 0..MAX_DRAIN {
            match self.core.poll_output(self.now) {
                Output::Connect { conn, addr } => {
                    self.log(|| format!("  Connect {conn:?} {addr}"));
                    assert!(!self.quiet, "connection to {addr} asked for after close");
                    assert!(
                        !self.conn_index.contains_key(&conn),
                        "connection id {conn:?} reused"
                    );
                    self.conn_index.insert(conn, self.conns.len());
                    self.conns.push(Conn {
                        id: conn,
                        addr,
                        state: ConnState::Opening,
                        requests: Vec::new(),
                        answered: Vec::new(),
                        peer_requests: HashMap::new(),
                        next_peer_opaque: 100_000,
                        rx: BytesMut::new(),
                        rx_poisoned: false,
                    });
                }
                Output::Transmit { conn, head, body } => self.on_transmit(conn, &head, &body),
                Output::Close { conn } => {
                    self.log(|| format!("  Close {conn:?}"));
                    let c = *self
                        .conn_index
                        .get(&conn)
                        .unwrap_or_else(|| panic!("close of unknown connection {conn:?}"));
                    assert!(
                        self.conns[c].state != ConnState::Gone,
                        "close of connection {conn:?}, already gone"
                    );
                    self.gone(conn);
                }
                Output::Event(event) => {
                    self.log(|| format!("  {}", short_event(&event)));
                    self.on_event(event);
                    if let Some(op) = self.reentrant.take() {
                        self.seen.reentrant += 1;
                        self.log(|| format!("  (inside the drain) {op:?}"));
                        self.apply(op);
                    }
                }
                Output::Timeout(at) => {
                    assert!(
                        at > self.now,
                        "deadline {:?} is not after now {:?}",
                        at.saturating_duration_since(self.base),
                        self.now.saturating_duration_since(self.base)
                    );
                    self.deadline = Some(at);
                    let ms = at.saturating_duration_since(self.base).as_millis();
                    self.log(|| format!("  Timeout at +{ms}ms"));
                    return;
                }
                Output::Idle => {
                    self.deadline = None;
                    self.log(|| "  Idle".to_string());
                    let stuck = self.unanswered_while_idle();
                    assert!(
                        stuck.is_empty(),
                        "{stuck:?} without a result while the core is idle"
                    );
                    return;
                }
            }
        }
        panic!("poll_output did not settle within {MAX_DRAIN} outputs");
    }

    pub(super) fn on_transmit(&mut self, conn: ConnId, head: &Bytes, body: &Bytes) {
        let c = *self
            .conn_index
            .get(&conn)
            .unwrap_or_else(|| panic!("transmit on unknown connection {conn:?}"));
        assert!(!self.quiet, "transmit on {conn:?} after close");
        assert_eq!(
            self.conns[c].state,
            ConnState::Open,
            "transmit on connection {conn:?} that is not open"
        );
        let mut frame = BytesMut::with_capacity(head.len() + body.len());
        frame.extend_from_slice(head);
        frame.extend_from_slice(body);
        let cmd = FrameDecoder::new(usize::MAX)
            .decode(&mut frame)
            .unwrap_or_else(|e| panic!("the core wrote a malformed frame: {e}"))
            .expect("a whole frame");
        assert!(frame.is_empty(), "one transmit, one frame");
        self.log(|| {
            format!(
                "  Transmit {conn:?} code={} opaque={} flag={}",
                cmd.code, cmd.opaque, cmd.flag
            )
        });
        // UPDATE_CONSUMER_OFFSET, PULL_MESSAGE: a committed offset is never negative.
        if let Some(offset) = cmd
            .field("commitOffset")
            .and_then(|o| o.parse::<i64>().ok())
        {
            assert!(
                offset >= 0,
                "the core commits offset {offset} (code {})",
                cmd.code
            );
        }
        let conn = &mut self.conns[c];
        if cmd.is_response() {
            let left = conn.peer_requests.get_mut(&cmd.opaque).unwrap_or_else(|| {
                panic!(
                    "answer to opaque {} that the peer never asked on {}",
                    cmd.opaque, conn.addr
                )
            });
            assert!(*left > 0, "broker request {} answered twice", cmd.opaque);
            *left -= 1;
            self.seen.answers_written += 1;
        } else if !cmd.is_oneway() {
            conn.requests.push(cmd);
        }
    }

    pub(super) fn finish_op(&mut self, op: OpId, expected: OpKind) {
        let record = self
            .ops
            .get_mut(&op)
            .unwrap_or_else(|| panic!("result for {op:?}, which the core never handed out"));
        assert_eq!(record.kind, expected, "result of the wrong kind for {op:?}");
        assert_eq!(record.results, 0, "second result for {op:?} ({expected:?})");
        record.results = 1;
    }

    pub(super) fn on_event(&mut self, event: Event) {
        match event {
            Event::Request(request) => {
                self.seen.requests += 1;
                if let Some(token) = request.token {
                    self.answer_tokens.push(token);
                }
            }
            Event::Route { op, result, .. } => {
                self.seen.routes_ok += usize::from(result.is_ok());
                self.finish_op(op, OpKind::Route);
            }
            Event::Response { op, result } => {
                self.seen.responses_ok += usize::from(result.is_ok());
                self.finish_op(op, OpKind::Invoke);
            }
            Event::Send { op, result } => {
                self.seen.sends_ok += usize::from(result.is_ok());
                self.finish_op(op, OpKind::Send { oneway: false });
            }
            Event::OnewaySent { op, result } => {
                self.seen.oneway_ok += usize::from(result.is_ok());
                self.finish_op(op, OpKind::Send { oneway: true });
            }
            Event::ExecuteLocalTransaction { op, token, .. } => {
                self.seen.local_transactions += 1;
                let record = self.ops.get_mut(&op).unwrap_or_else(|| {
                    panic!("local transaction for {op:?}, which the core never handed out")
                });
                assert_eq!(record.kind, OpKind::Transactional);
                assert_eq!(record.results, 0, "local transaction after the result");
                assert!(!record.local_transaction, "second local transaction");
                record.local_transaction = true;
                self.local_transactions.push((op, token));
            }
            Event::Transaction { op, result } => {
                self.seen.transactions_ok += usize::from(result.is_ok());
                self.finish_op(op, OpKind::Transactional);
            }
            Event::CheckTransaction {
                producer, token, ..
            } => {
                self.seen.checks += 1;
                assert!(
                    self.producers.iter().any(|(p, _)| *p == producer),
                    "transaction check for a producer never created"
                );
                self.checks.push(token);
            }
            Event::Deliver {
                consumer,
                delivery,
                messages,
                queue,
            } => {
                self.seen.deliveries += 1;
                self.seen.messages += messages.len();
                let info = self
                    .consumers
                    .iter()
                    .find(|c| c.id == consumer)
                    .unwrap_or_else(|| panic!("delivery to unknown consumer {consumer:?}"));
                assert!(
                    info.life != Life::Closed,
                    "delivery to {consumer:?} after it closed"
                );
                assert!(!messages.is_empty(), "empty delivery");
                assert!(
                    self.seen_deliveries.insert(delivery),
                    "delivery id {delivery:?} reused"
                );
                let maybe_abandoned = self.abandoned_in_drain.contains(&consumer);
                self.deliveries.push(DeliveryInfo {
                    id: delivery,
                    consumer,
                    queue,
                    at: self.now,
                    maybe_abandoned,
                });
            }
            Event::Seeked { consumer, queue } => {
                // The seek gave up the queue's deliveries still out: acking them is misuse.
                let (gone, kept): (Vec<DeliveryInfo>, Vec<DeliveryInfo>) =
                    std::mem::take(&mut self.deliveries)
                        .into_iter()
                        .partition(|d| d.consumer == consumer && d.queue == queue);
                self.deliveries = kept;
                self.settled.extend(gone.into_iter().map(|d| d.id));
            }
            Event::QueuesChanged {
                consumer,
                topic,
                queues,
            } => {
                // A rebalance's new share: of a consumer not closed, of that topic only, each
                // queue once, in order.
                let info = self.consumers.iter().find(|c| c.id == consumer);
                assert!(
                    info.is_some_and(|c| c.life != Life::Closed),
                    "queues changed for {consumer:?}, unknown or closed"
                );
                assert!(
                    queues.iter().all(|q| q.topic == topic),
                    "{topic}: {queues:?}"
                );
                assert!(queues.windows(2).all(|w| w[0] < w[1]), "{queues:?}");
            }
            Event::ConsumeDirectly {
                consumer, token, ..
            } => {
                // A broker request the user answers, as `Event::Request` was for it before.
                self.seen.requests += 1;
                let info = self.consumers.iter().find(|c| c.id == consumer);
                assert!(
                    info.is_some_and(|c| c.life != Life::Closed),
                    "consume-directly for {consumer:?}, unknown or closed"
                );
                let now = self.now;
                self.core.answer_consume_directly(
                    now,
                    token,
                    Some(ConsumeOutcome::Success),
                    Duration::ZERO,
                );
            }
            Event::PersistLocalOffsets { consumer, content } => {
                self.seen.local_offsets += 1;
                assert!(
                    self.consumers.iter().any(|c| c.id == consumer),
                    "offsets of unknown consumer {consumer:?}"
                );
                if let Err(e) = decode_offset_file(&content) {
                    panic!("the core's offset file does not decode: {e}");
                }
            }
            Event::OffsetsCommitted { op, consumer } => {
                self.seen.commits += 1;
                self.finish_op(op, OpKind::Commit(consumer));
            }
            Event::ConsumerClosed { op, consumer, .. } => {
                self.seen.consumers_closed += 1;
                self.finish_op(op, OpKind::CloseConsumer(consumer));
                if let Some(c) = self.consumer_mut(consumer) {
                    c.life = Life::Closed;
                }
            }
            Event::ProducerClosed { op, producer } => {
                self.seen.producers_closed += 1;
                self.finish_op(op, OpKind::CloseProducer(producer));
                if let Some(p) = self.producers.iter_mut().find(|(p, _)| *p == producer) {
                    p.1 = Life::Closed;
                }
            }
            Event::PeerError { .. } => self.seen.peer_errors += 1,
            Event::ClientIdCollision(c) => {
                assert!(
                    !c.client_addrs.is_empty(),
                    "a collision names addresses: {c:?}"
                );
                self.seen.diagnostics += 1;
            }
            Event::ConsumerRefused(r) => {
                assert_eq!(r.code, ResponseCode::NoPermission, "{r:?}");
                self.seen.diagnostics += 1;
            }
            // Only `request_reply` has replies, and no op here makes one (a pushed reply
            // for no waiting request is dropped without an event).
            Event::Reply { op, .. } => panic!("a reply for {op:?}, which is no request"),
        }
    }

    /// The core is idle: no timer is armed, so only the user can make anything happen. Every
    /// op must have its result unless it waits for the user; the others are returned.
    pub(super) fn unanswered_while_idle(&self) -> Vec<(OpId, OpKind)> {
        self.ops
            .iter()
            .filter(|(op, record)| {
                let waits_for_user = match record.kind {
                    OpKind::Transactional => {
                        record.local_transaction
                            && self.local_transactions.iter().any(|(o, _)| o == *op)
                    }
                    OpKind::CloseConsumer(c) => self.deliveries.iter().any(|d| d.consumer == c),
                    _ => false,
                };
                record.results == 0 && !waits_for_user
            })
            .map(|(op, record)| (*op, record.kind))
            .collect()
    }

    // ---- the end ---------------------------------------------------------------------------

    /// Settles what the user owes, closes the core, runs time past every deadline and checks
    /// that every op got exactly one result.
    pub fn finish(&mut self) {
        self.reentrant = None;
        for round in 0..FINAL_ROUNDS {
            self.settle_user();
            if round == 0 {
                self.core.close(self.now);
                self.closed = true;
                self.drain();
                continue;
            }
            if self.deadline.is_none() && self.nothing_owed() {
                break;
            }
            self.advance(Duration::from_secs(60), true);
        }
        assert!(self.nothing_owed(), "the user still owes something");
        for (op, record) in &self.ops {
            assert_eq!(
                record.results, 1,
                "{op:?} ({:?}) has no result after shutdown",
                record.kind
            );
        }
        assert!(self.core.is_closed(), "core not closed");
        assert_eq!(self.core.remoting().pending_count(), 0, "requests pending");
        assert_eq!(self.core.sends_in_flight(), 0, "sends in flight");
        assert_eq!(self.core.deliveries_in_flight(), 0, "deliveries in flight");
        assert_eq!(self.deadline, None, "timers still armed after shutdown");
    }

    pub(super) fn nothing_owed(&self) -> bool {
        self.deliveries.is_empty()
            && self.local_transactions.is_empty()
            && self.checks.is_empty()
            && self.answer_tokens.is_empty()
    }

    pub(super) fn settle_user(&mut self) {
        let now = self.now;
        while !self.nothing_owed() {
            for d in std::mem::take(&mut self.deliveries) {
                self.ack_held(d, ConsumeOutcome::Success);
            }
            for (_, token) in std::mem::take(&mut self.local_transactions) {
                self.core
                    .end_local_transaction(now, token, TransactionState::Commit, None);
            }
            for token in std::mem::take(&mut self.checks) {
                self.core
                    .answer_transaction_check(now, token, TransactionState::Rollback);
            }
            for token in std::mem::take(&mut self.answer_tokens) {
                let response = RemotingCommand::response_to(
                    &RemotingCommand::request_code(0),
                    ResponseCode::Success,
                );
                self.core.answer(now, token, response);
            }
            self.drain();
        }
    }
}

/// An event in a line: its kind, op, ids and whether it is a success.
pub(super) fn short_event(event: &Event) -> String {
    match event {
        Event::Response { op, result } => format!("Response {op:?} ok={}", result.is_ok()),
        Event::Route { op, topic, result } => {
            format!("Route {op:?} {topic} {:?}", result.as_ref().err())
        }
        Event::Request(r) => format!(
            "Request code={} token={}",
            r.command.code,
            r.token.is_some()
        ),
        Event::Send { op, result } => format!("Send {op:?} {:?}", result.as_ref().err()),
        Event::OnewaySent { op, result } => {
            format!("OnewaySent {op:?} {:?}", result.as_ref().err())
        }
        Event::ExecuteLocalTransaction { op, .. } => format!("ExecuteLocalTransaction {op:?}"),
        Event::Transaction { op, result } => {
            format!("Transaction {op:?} {:?}", result.as_ref().err())
        }
        Event::CheckTransaction { producer, .. } => format!("CheckTransaction {producer:?}"),
        Event::Deliver {
            consumer,
            delivery,
            queue,
            messages,
        } => format!(
            "Deliver {consumer:?} {delivery:?} {}/{}/{} n={}",
            queue.topic,
            queue.broker_name,
            queue.queue_id,
            messages.len()
        ),
        Event::PersistLocalOffsets { consumer, .. } => format!("PersistLocalOffsets {consumer:?}"),
        Event::Seeked { consumer, queue } => format!(
            "Seeked {consumer:?} {}/{}/{}",
            queue.topic, queue.broker_name, queue.queue_id
        ),
        Event::ConsumeDirectly { consumer, .. } => format!("ConsumeDirectly {consumer:?}"),
        Event::QueuesChanged {
            consumer,
            topic,
            queues,
        } => format!("QueuesChanged {consumer:?} {topic} n={}", queues.len()),
        Event::OffsetsCommitted { op, consumer } => format!("OffsetsCommitted {op:?} {consumer:?}"),
        Event::ConsumerClosed { op, consumer, .. } => format!("ConsumerClosed {op:?} {consumer:?}"),
        Event::ProducerClosed { op, producer } => format!("ProducerClosed {op:?} {producer:?}"),
        Event::PeerError { addr, error } => format!("PeerError {addr} {error}"),
        Event::ClientIdCollision(c) => {
            format!("ClientIdCollision {:?} {:?}", c.consumer, c.client_addrs)
        }
        Event::ConsumerRefused(r) => format!("ConsumerRefused {:?} {}", r.consumer, r.request),
        Event::Reply { op, result } => format!("Reply {op:?} {:?}", result.as_ref().err()),
    }
}
