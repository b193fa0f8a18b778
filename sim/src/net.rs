//! A seeded simulated network of TCP-like connections between clients and servers.
//!
//! Semantics kept from TCP: one connection never reorders or duplicates bytes by itself, so
//! latency and jitter only reorder traffic of *different* connections (a write is never
//! delivered before an earlier write of the same direction). "Loss" of a write breaks the
//! connection (a reset: both ends see it closed, data in flight is gone). A graceful close
//! delivers the closer's data in flight first. Bytes arrive in random chunk sizes so the
//! receiver's partial-frame path is exercised.
//!
//! Frames are split out of each direction's byte stream (length field) so a test hook can
//! drop, duplicate or rewrite one decoded frame ([`SimNet::set_hook`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rocketwire_core::time::Rng;
use rocketwire_core::{ConnId, RemotingCommand};

use crate::server::{decode_raw, encode, split_frame};

/// Identifies one simulated connection (unique across the world).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

/// Direction of traffic on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

impl Dir {
    fn index(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }
}

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The client end.
    Client,
    /// The server end.
    Server,
}

/// One-way delay of a write: `base` plus a uniform random `0..=jitter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// Fixed part.
    pub base: Duration,
    /// Largest random addition.
    pub jitter: Duration,
}

impl Latency {
    /// A latency of `base_ms` plus up to `jitter_ms`.
    pub fn millis(base_ms: u64, jitter_ms: u64) -> Self {
        Self {
            base: Duration::from_millis(base_ms),
            jitter: Duration::from_millis(jitter_ms),
        }
    }
}

/// Network settings; may be changed while a scenario runs ([`SimNet::config_mut`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Default one-way latency.
    pub latency: Latency,
    /// Probability, per million frames, that a write resets its connection instead.
    pub loss_per_million: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency: Latency::millis(1, 0),
            loss_per_million: 0,
        }
    }
}

/// A decoded frame in flight, as a hook sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimFrame {
    /// Its direction.
    pub dir: Dir,
    /// The link.
    pub link: LinkId,
    /// Index of the client end.
    pub client: usize,
    /// Address of the server end.
    pub server: String,
    /// The command; a hook may change it (the frame is then re-encoded).
    pub command: RemotingCommand,
}

/// What a hook does with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    /// Deliver it (as possibly rewritten by the hook).
    Deliver,
    /// Drop it (the rest of the stream still arrives).
    Drop,
    /// Deliver it twice in a row.
    Duplicate,
}

/// A frame hook: applied to every decoded frame in both directions.
pub type Hook = Box<dyn FnMut(&mut SimFrame) -> HookAction>;

/// Something the network reports to the world when it falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The connection is established (both ends learn it now).
    ConnectOk(LinkId),
    /// The connection was refused.
    ConnectFailed(LinkId, String),
    /// Bytes arrive in direction `dir`.
    Deliver(LinkId, Dir, Bytes),
    /// The given side learns that the link closed.
    Closed(LinkId, Side),
}

/// The state of one link, readable by the world.
#[derive(Debug, Clone)]
pub struct Link {
    /// Index of the client end.
    pub client: usize,
    /// The client's id for the connection.
    pub conn: ConnId,
    /// The server address.
    pub server: String,
    writable: [bool; 2],
    deliverable: [bool; 2],
    told: [bool; 2],
    last_at: [Option<Instant>; 2],
    tx: [BytesMut; 2],
}

impl Link {
    /// Whether the link is established and can carry new writes both ways.
    pub fn is_open(&self) -> bool {
        self.writable == [true, true]
    }
}

/// The simulated network.
pub struct SimNet {
    config: NetConfig,
    rng: Rng,
    links: BTreeMap<LinkId, Link>,
    next_link: u64,
    queue: BTreeMap<(Instant, u64), NetEvent>,
    seq: u64,
    partitioned: BTreeSet<String>,
    latency_by_addr: BTreeMap<String, Latency>,
    hook: Option<Hook>,
    notes: Vec<(Instant, String)>,
}

impl fmt::Debug for SimNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimNet")
            .field("config", &self.config)
            .field("links", &self.links.len())
            .field("queued", &self.queue.len())
            .field("partitioned", &self.partitioned)
            .finish_non_exhaustive()
    }
}

impl SimNet {
    /// A network with `config`, randomness seeded with `seed`.
    pub fn new(config: NetConfig, seed: u64) -> Self {
        Self {
            config,
            rng: Rng::new(seed),
            links: BTreeMap::new(),
            next_link: 1,
            queue: BTreeMap::new(),
            seq: 0,
            partitioned: BTreeSet::new(),
            latency_by_addr: BTreeMap::new(),
            hook: None,
            notes: Vec::new(),
        }
    }

    /// The settings.
    pub fn config_mut(&mut self) -> &mut NetConfig {
        &mut self.config
    }

    /// Overrides the latency of every link to the server at `addr`.
    pub fn set_latency(&mut self, addr: &str, latency: Latency) {
        self.latency_by_addr.insert(addr.to_string(), latency);
    }

    /// Installs a frame hook (replacing any previous one).
    pub fn set_hook(&mut self, hook: impl FnMut(&mut SimFrame) -> HookAction + 'static) {
        self.hook = Some(Box::new(hook));
    }

    /// Removes the frame hook.
    pub fn clear_hook(&mut self) {
        self.hook = None;
    }

    /// A link's state.
    pub fn link(&self, link: LinkId) -> Option<&Link> {
        self.links.get(&link)
    }

    /// The open link of a client connection.
    pub fn link_of(&self, client: usize, conn: ConnId) -> Option<LinkId> {
        self.links
            .iter()
            .find(|(_, l)| {
                l.client == client && l.conn == conn && !l.told[side_index(Side::Client)]
            })
            .map(|(id, _)| *id)
    }

    /// When the next event is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// The next event due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<NetEvent> {
        loop {
            let (&key, _) = self.queue.iter().next()?;
            if key.0 > now {
                return None;
            }
            let event = self.queue.remove(&key)?;
            if let Some(event) = self.admit(event) {
                return Some(event);
            }
        }
    }

    /// Notes (hook actions, resets) since the last call, for the transcript.
    pub fn take_notes(&mut self) -> Vec<(Instant, String)> {
        std::mem::take(&mut self.notes)
    }

    /// Starts a connection from `client` (its id `conn`) to `addr`. `listening` says whether a
    /// server is there: if not, the connect is refused; a partitioned address never answers.
    pub fn connect(
        &mut self,
        now: Instant,
        client: usize,
        conn: ConnId,
        addr: &str,
        listening: bool,
    ) -> LinkId {
        let id = LinkId(self.next_link);
        self.next_link += 1;
        self.links.insert(
            id,
            Link {
                client,
                conn,
                server: addr.to_string(),
                writable: [false; 2],
                deliverable: [false; 2],
                told: [false; 2],
                last_at: [None; 2],
                tx: [BytesMut::new(), BytesMut::new()],
            },
        );
        if self.partitioned.contains(addr) {
            return id;
        }
        let at = now + self.delay(addr);
        if listening {
            self.schedule(at, NetEvent::ConnectOk(id));
        } else {
            self.schedule(at, NetEvent::ConnectFailed(id, "connection refused".into()));
        }
        id
    }

    /// Writes `bytes` on `link` in direction `dir` (dropped if that direction is shut).
    pub fn send(&mut self, now: Instant, link: LinkId, dir: Dir, bytes: &[u8]) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if !l.writable[dir.index()] {
            return;
        }
        l.tx[dir.index()].extend_from_slice(bytes);
        while let Some(raw) = self
            .links
            .get_mut(&link)
            .and_then(|l| split_frame(&mut l.tx[dir.index()]))
        {
            let copies = match self.apply_hook(now, link, dir, raw) {
                (HookAction::Drop, _) => continue,
                (HookAction::Deliver, raw) => vec![raw],
                (HookAction::Duplicate, raw) => vec![raw.clone(), raw],
            };
            for raw in copies {
                if self.roll(self.config.loss_per_million) {
                    self.notes
                        .push((now, format!("net loss resets link#{}", link.0)));
                    self.reset(now, link);
                    return;
                }
                self.deliver(now, link, dir, raw);
            }
        }
    }

    /// Closes `link` gracefully from `side`: its data in flight still arrives, then the other
    /// side learns of the close; nothing more is read or written by `side`.
    pub fn close(&mut self, now: Instant, link: LinkId, side: Side) {
        let Some(addr) = self.links.get(&link).map(|l| l.server.clone()) else {
            return;
        };
        let delay = self.delay(&addr);
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let out = match side {
            Side::Client => Dir::ToServer,
            Side::Server => Dir::ToClient,
        };
        let inbound = 1 - out.index();
        let was_open = l.writable.iter().chain(&l.deliverable).any(|b| *b);
        l.told[side_index(side)] = true;
        if !was_open {
            return;
        }
        l.writable = [false; 2];
        l.deliverable[inbound] = false;
        let peer = other(side);
        if !l.told[side_index(peer)] {
            let at = l.last_at[out.index()].map_or(now + delay, |t| t.max(now + delay));
            self.schedule(at, NetEvent::Closed(link, peer));
        }
    }

    /// Breaks `link` at once: data in flight is lost and both ends learn of it now.
    pub fn reset(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.writable = [false; 2];
        l.deliverable = [false; 2];
        let notify: Vec<Side> = [Side::Client, Side::Server]
            .into_iter()
            .filter(|s| !l.told[side_index(*s)])
            .collect();
        for side in notify {
            self.schedule(now, NetEvent::Closed(link, side));
        }
    }

    /// Makes `addr` unreachable: connects to it never answer, its links reset now.
    pub fn partition(&mut self, now: Instant, addr: &str) {
        self.partitioned.insert(addr.to_string());
        self.notes.push((now, format!("net partition {addr}")));
        let links: Vec<LinkId> = self.links_to(addr);
        for link in links {
            self.reset(now, link);
        }
    }

    /// Makes `addr` reachable again.
    pub fn heal(&mut self, now: Instant, addr: &str) {
        if self.partitioned.remove(addr) {
            self.notes.push((now, format!("net heal {addr}")));
        }
    }

    /// Whether `addr` is partitioned.
    pub fn is_partitioned(&self, addr: &str) -> bool {
        self.partitioned.contains(addr)
    }

    /// Links to `addr` whose server end has not learnt of a close.
    pub fn links_to(&self, addr: &str) -> Vec<LinkId> {
        self.links
            .iter()
            .filter(|(_, l)| l.server == addr && !l.told[side_index(Side::Server)])
            .map(|(id, _)| *id)
            .collect()
    }

    /// Marks an event as handed over, or drops it if the link no longer allows it.
    fn admit(&mut self, event: NetEvent) -> Option<NetEvent> {
        let link = match &event {
            NetEvent::ConnectOk(l) | NetEvent::ConnectFailed(l, _) => *l,
            NetEvent::Deliver(l, _, _) | NetEvent::Closed(l, _) => *l,
        };
        let partitioned = self
            .links
            .get(&link)
            .is_some_and(|l| self.partitioned.contains(&l.server));
        let l = self.links.get_mut(&link)?;
        match &event {
            NetEvent::ConnectOk(_) => {
                if partitioned || l.told.iter().any(|t| *t) {
                    return None;
                }
                l.writable = [true; 2];
                l.deliverable = [true; 2];
            }
            NetEvent::ConnectFailed(_, _) => {
                if l.told[0] {
                    return None;
                }
                l.told = [true; 2];
            }
            NetEvent::Deliver(_, dir, _) => {
                if !l.deliverable[dir.index()] {
                    return None;
                }
            }
            NetEvent::Closed(_, side) => {
                if l.told[side_index(*side)] {
                    return None;
                }
                l.told[side_index(*side)] = true;
                l.writable = [false; 2];
                l.deliverable = [false; 2];
            }
        }
        Some(event)
    }

    fn apply_hook(
        &mut self,
        now: Instant,
        link: LinkId,
        dir: Dir,
        raw: Bytes,
    ) -> (HookAction, Bytes) {
        let (Some(hook), Some(l)) = (self.hook.as_mut(), self.links.get(&link)) else {
            return (HookAction::Deliver, raw);
        };
        let Some((command, ser)) = decode_raw(&raw) else {
            return (HookAction::Deliver, raw);
        };
        let mut frame = SimFrame {
            dir,
            link,
            client: l.client,
            server: l.server.clone(),
            command,
        };
        let before = frame.command.clone();
        let action = hook(&mut frame);
        let changed = frame.command != before;
        if action != HookAction::Deliver || changed {
            let what = if changed { " (rewritten)" } else { "" };
            self.notes.push((
                now,
                format!(
                    "net hook {action:?}{what} link#{} opaque={}",
                    link.0, before.opaque
                ),
            ));
        }
        match (changed, encode(&frame.command, ser)) {
            (true, Some(bytes)) => (action, bytes),
            _ => (action, raw),
        }
    }

    fn deliver(&mut self, now: Instant, link: LinkId, dir: Dir, raw: Bytes) {
        let Some(addr) = self.links.get(&link).map(|l| l.server.clone()) else {
            return;
        };
        let mut at = now + self.delay(&addr);
        if let Some(l) = self.links.get_mut(&link) {
            if let Some(last) = l.last_at[dir.index()] {
                at = at.max(last);
            }
            l.last_at[dir.index()] = Some(at);
        }
        let mut rest = raw;
        while !rest.is_empty() {
            let n = if self.rng.below(4) == 0 {
                rest.len()
            } else {
                1 + self.rng.below(rest.len() as u64) as usize
            };
            let chunk = rest.split_to(n.min(rest.len()));
            self.schedule(at, NetEvent::Deliver(link, dir, chunk));
        }
    }

    fn delay(&mut self, addr: &str) -> Duration {
        let latency = self
            .latency_by_addr
            .get(addr)
            .copied()
            .unwrap_or(self.config.latency);
        let jitter_us = latency.jitter.as_micros() as u64;
        let extra = if jitter_us == 0 {
            0
        } else {
            self.rng.below(jitter_us + 1)
        };
        latency.base + Duration::from_micros(extra)
    }

    fn roll(&mut self, per_million: u32) -> bool {
        per_million > 0 && self.rng.below(1_000_000) < u64::from(per_million)
    }

    fn schedule(&mut self, at: Instant, event: NetEvent) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketwire_core::{RequestCode, SerializeType};

    fn frame(opaque: i32) -> Bytes {
        let mut cmd = RemotingCommand::request(RequestCode::HeartBeat);
        cmd.opaque = opaque;
        encode(&cmd, SerializeType::Json).unwrap()
    }

    fn drain(net: &mut SimNet, now: Instant) -> Vec<NetEvent> {
        std::iter::from_fn(|| net.pop_due(now)).collect()
    }

    fn open(net: &mut SimNet, t0: Instant) -> LinkId {
        let link = net.connect(t0, 0, ConnId(1), "s:1", true);
        assert_eq!(
            drain(net, t0 + Duration::from_secs(1)),
            vec![NetEvent::ConnectOk(link)]
        );
        link
    }

    #[test]
    fn one_stream_keeps_order_under_jitter_and_chunks_rebuild_frames() {
        let t0 = Instant::now();
        let mut net = SimNet::new(
            NetConfig {
                latency: Latency::millis(1, 50),
                loss_per_million: 0,
            },
            3,
        );
        let link = open(&mut net, t0);
        let mut expected = Vec::new();
        for i in 0..20 {
            let f = frame(i);
            expected.extend_from_slice(&f);
            net.send(
                t0 + Duration::from_millis(i as u64),
                link,
                Dir::ToServer,
                &f,
            );
        }
        let mut got = Vec::new();
        let mut chunks = 0;
        for e in drain(&mut net, t0 + Duration::from_secs(5)) {
            if let NetEvent::Deliver(_, Dir::ToServer, b) = e {
                got.extend_from_slice(&b);
                chunks += 1;
            }
        }
        assert_eq!(got, expected);
        assert!(chunks > 20, "frames should arrive in pieces");
    }

    #[test]
    fn hooks_drop_duplicate_and_loss_resets() {
        let t0 = Instant::now();
        let mut net = SimNet::new(NetConfig::default(), 1);
        let link = open(&mut net, t0);
        net.set_hook(|f| match f.command.opaque {
            1 => HookAction::Drop,
            2 => HookAction::Duplicate,
            _ => HookAction::Deliver,
        });
        for i in 1..=3 {
            net.send(t0, link, Dir::ToClient, &frame(i));
        }
        let mut buf = BytesMut::new();
        for e in drain(&mut net, t0 + Duration::from_secs(1)) {
            if let NetEvent::Deliver(_, _, b) = e {
                buf.extend_from_slice(&b);
            }
        }
        let opaques: Vec<i32> = std::iter::from_fn(|| split_frame(&mut buf))
            .map(|raw| decode_raw(&raw).unwrap().0.opaque)
            .collect();
        assert_eq!(opaques, vec![2, 2, 3]);
        net.clear_hook();
        net.config_mut().loss_per_million = 1_000_000;
        net.send(t0, link, Dir::ToServer, &frame(4));
        let events = drain(&mut net, t0 + Duration::from_secs(2));
        assert_eq!(
            events,
            vec![
                NetEvent::Closed(link, Side::Client),
                NetEvent::Closed(link, Side::Server)
            ]
        );
    }

    #[test]
    fn graceful_close_delivers_data_first_and_partition_black_holes_connects() {
        let t0 = Instant::now();
        let mut net = SimNet::new(NetConfig::default(), 9);
        let link = open(&mut net, t0);
        net.send(t0, link, Dir::ToClient, &frame(7));
        net.close(t0, link, Side::Server);
        let events = drain(&mut net, t0 + Duration::from_secs(2));
        assert!(matches!(events.first(), Some(NetEvent::Deliver(..))));
        assert_eq!(events.last(), Some(&NetEvent::Closed(link, Side::Client)));
        net.partition(t0, "s:1");
        let l2 = net.connect(t0, 0, ConnId(2), "s:1", true);
        assert_eq!(drain(&mut net, t0 + Duration::from_secs(60)), vec![]);
        assert!(net.link(l2).is_some_and(|l| !l.is_open()));
        let l3 = net.connect(t0, 0, ConnId(3), "nobody:1", false);
        assert!(matches!(
            drain(&mut net, t0 + Duration::from_secs(1)).as_slice(),
            [NetEvent::ConnectFailed(l, _)] if *l == l3
        ));
    }
}
