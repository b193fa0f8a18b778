//! The world: clock, network, namesrvs, brokers and clients, stepped in virtual time.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rocketwire_core::{
    ClientConfig, ClientCore, ConnId, Event, Input, InvokeError, OpId, Output, RemotingCommand,
};

use crate::broker::{BrokerConfig, SimBroker};
use crate::clock::{SimClock, DEFAULT_WALL_ORIGIN_MILLIS};
use crate::livelock::{LivelockDetector, SimError};
use crate::namesrv::SimNamesrv;
use crate::net::{Dir, LinkId, NetConfig, NetEvent, Side, SimNet};
use crate::server::ServerIo;
use crate::transcript::{describe_frames, describe_output, format_time, Transcript};

/// Something a world can drive as a client: [`ClientCore`] or a test stub.
pub trait Driven {
    /// Feeds one input.
    fn handle_input(&mut self, now: Instant, input: Input);
    /// The next output.
    fn poll_output(&mut self, now: Instant) -> Output;
}

impl Driven for ClientCore {
    fn handle_input(&mut self, now: Instant, input: Input) {
        ClientCore::handle_input(self, now, input);
    }
    fn poll_output(&mut self, now: Instant) -> Output {
        ClientCore::poll_output(self, now)
    }
}

/// An event a client emitted, with its virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    /// Virtual time since the origin.
    pub at: Duration,
    /// The event.
    pub event: Event,
}

enum Slot {
    Core(Box<ClientCore>),
    Stub(Box<dyn Driven>),
}

struct SimClient {
    slot: Slot,
    addr: SocketAddr,
    events: Vec<SimEvent>,
    timer: Option<Instant>,
    wakeups: u64,
    /// When the client was last handed its timer or bytes, and how many times that came
    /// after a quiet [`BURST_GAP`].
    last_woken: Option<Instant>,
    bursts: u64,
}

/// Wake-ups of a client closer together than this count as one burst
/// ([`World::wake_bursts`]): what a real process handles in one go.
pub const BURST_GAP: Duration = Duration::from_millis(50);

impl SimClient {
    /// The client is handed an input at `now`.
    fn woken(&mut self, now: Instant) {
        if self
            .last_woken
            .is_none_or(|at| now.saturating_duration_since(at) > BURST_GAP)
        {
            self.bursts += 1;
        }
        self.last_woken = Some(now);
    }
}

impl SimClient {
    fn driven(&mut self) -> &mut dyn Driven {
        match &mut self.slot {
            Slot::Core(core) => core.as_mut(),
            Slot::Stub(stub) => stub.as_mut(),
        }
    }
}

/// How a world is built.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// Seed of every random choice (network, clients).
    pub seed: u64,
    /// Network settings.
    pub net: NetConfig,
    /// Namesrv addresses (named `ns1`, `ns2`, … in transcripts).
    pub namesrvs: Vec<String>,
    /// Brokers.
    pub brokers: Vec<BrokerConfig>,
    /// Number of [`ClientCore`]s.
    pub clients: usize,
    /// Settings of every client (its namesrv list is replaced by `namesrvs`).
    pub client: ClientConfig,
    /// Livelock limit: steps allowed at one instant.
    pub max_steps_per_instant: usize,
    /// Whether to record a transcript.
    pub transcript: bool,
}

impl WorldConfig {
    /// Two namesrvs (`127.0.0.1:9876`, `127.0.0.1:9877`), brokers `broker-a`
    /// (`127.0.0.1:10911`) and `broker-b` (`127.0.0.1:10921`), one client, 1 ms latency.
    pub fn new(seed: u64) -> Self {
        let namesrvs = vec!["127.0.0.1:9876".to_string(), "127.0.0.1:9877".to_string()];
        Self {
            seed,
            net: NetConfig::default(),
            client: ClientConfig::new(namesrvs.clone()),
            namesrvs,
            brokers: vec![
                BrokerConfig::new("broker-a", "127.0.0.1:10911"),
                BrokerConfig::new("broker-b", "127.0.0.1:10921"),
            ],
            clients: 1,
            max_steps_per_instant: 100_000,
            transcript: true,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Server {
    Namesrv(usize),
    Broker(usize),
}

/// The simulated world. See the crate docs for how a scenario is written.
pub struct World {
    clock: SimClock,
    net: SimNet,
    namesrvs: Vec<SimNamesrv>,
    brokers: Vec<SimBroker>,
    servers: BTreeMap<String, Server>,
    /// Servers that are down: connects to them are refused.
    stopped: BTreeSet<String>,
    clients: Vec<SimClient>,
    links: BTreeMap<(usize, ConnId), LinkId>,
    detector: LivelockDetector,
    transcript: Option<Transcript>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("elapsed", &self.clock.elapsed())
            .field("net", &self.net)
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl World {
    /// Builds the world at virtual time zero; brokers are registered with every namesrv.
    pub fn new(config: WorldConfig) -> Self {
        let clock = SimClock::new(DEFAULT_WALL_ORIGIN_MILLIS);
        let mut servers = BTreeMap::new();
        let mut namesrvs = Vec::new();
        for (i, addr) in config.namesrvs.iter().enumerate() {
            let mut ns = SimNamesrv::new(&format!("ns{}", i + 1), addr);
            for b in &config.brokers {
                ns.register_broker(&b.cluster, &b.name, &b.addr);
            }
            servers.insert(addr.clone(), Server::Namesrv(i));
            namesrvs.push(ns);
        }
        let brokers = config
            .brokers
            .iter()
            .enumerate()
            .map(|(i, b)| {
                servers.insert(b.addr.clone(), Server::Broker(i));
                SimBroker::new(b.clone(), clock.wall())
            })
            .collect();
        let mut world = Self {
            net: SimNet::new(config.net.clone(), mix(config.seed, u64::MAX)),
            clock,
            namesrvs,
            brokers,
            servers,
            stopped: BTreeSet::new(),
            clients: Vec::new(),
            links: BTreeMap::new(),
            detector: LivelockDetector::new(config.max_steps_per_instant),
            transcript: config.transcript.then(Transcript::default),
        };
        let mut client_config = config.client.clone();
        client_config.namesrv_addrs = config.namesrvs.clone();
        for i in 0..config.clients {
            let now = world.clock.now();
            let wall = Box::new(world.clock.wall());
            let core =
                ClientCore::new(client_config.clone(), wall, mix(config.seed, i as u64), now);
            world.push_client(Slot::Core(Box::new(core)));
        }
        world
    }

    /// Adds a client driven by a stub; returns its index.
    pub fn add_stub(&mut self, stub: Box<dyn Driven>) -> usize {
        self.push_client(Slot::Stub(stub))
    }

    fn push_client(&mut self, slot: Slot) -> usize {
        let i = self.clients.len();
        let addr = SocketAddr::from(([10, 0, 0, (i % 250 + 1) as u8], 50_000 + i as u16));
        self.clients.push(SimClient {
            slot,
            addr,
            events: Vec::new(),
            timer: None,
            wakeups: 0,
            last_woken: None,
            bursts: 0,
        });
        i
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Virtual time since the origin.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The clock.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Client `i`'s core. Panics if `i` is a stub or out of range (a test bug).
    pub fn client(&mut self, i: usize) -> &mut ClientCore {
        match &mut self.clients[i].slot {
            Slot::Core(core) => core,
            Slot::Stub(_) => panic!("client {i} is a stub"),
        }
    }

    /// Client `i`'s core, read-only (for conditions of [`World::drive_until`]). Panics if `i`
    /// is a stub or out of range (a test bug).
    pub fn core(&self, i: usize) -> &ClientCore {
        match &self.clients[i].slot {
            Slot::Core(core) => core,
            Slot::Stub(_) => panic!("client {i} is a stub"),
        }
    }

    /// The broker called `name`, read-only. Panics if there is none (a test bug).
    pub fn broker_ref(&self, name: &str) -> &SimBroker {
        let found = self.brokers.iter().find(|b| b.config().name == name);
        found.unwrap_or_else(|| panic!("no broker {name}"))
    }

    /// Events client `i` emitted so far.
    pub fn events(&self, i: usize) -> &[SimEvent] {
        &self.clients[i].events
    }

    /// How many times client `i`'s timer fired (each an [`Input::Timeout`] fed to it).
    pub fn wakeups(&self, i: usize) -> u64 {
        self.clients[i].wakeups
    }

    /// How many times client `i` was woken, by its timer or by bytes, after [`BURST_GAP`]
    /// or more without a wake-up.
    pub fn wake_bursts(&self, i: usize) -> u64 {
        self.clients[i].bursts
    }

    /// Takes client `i`'s events.
    pub fn take_events(&mut self, i: usize) -> Vec<SimEvent> {
        std::mem::take(&mut self.clients[i].events)
    }

    /// The response client `i` got for `op`, with its time.
    pub fn response(
        &self,
        i: usize,
        op: OpId,
    ) -> Option<(Duration, &Result<RemotingCommand, InvokeError>)> {
        self.clients[i].events.iter().find_map(|e| match &e.event {
            Event::Response { op: o, result } if *o == op => Some((e.at, result)),
            _ => None,
        })
    }

    /// The network.
    pub fn net(&mut self) -> &mut SimNet {
        &mut self.net
    }

    /// Namesrv `i`.
    pub fn namesrv(&mut self, i: usize) -> &mut SimNamesrv {
        &mut self.namesrvs[i]
    }

    /// The broker called `name`. Panics if there is none (a test bug).
    pub fn broker(&mut self, name: &str) -> &mut SimBroker {
        let found = self.brokers.iter_mut().find(|b| b.config().name == name);
        found.unwrap_or_else(|| panic!("no broker {name}"))
    }

    /// Restarts broker `name`: its connections reset, its stored data stays.
    pub fn restart_broker(&mut self, name: &str) {
        let now = self.now();
        let links = self.broker(name).crash();
        self.note(&format!("{name} restarts"));
        for link in links {
            self.net.reset(now, link);
        }
    }

    /// Stops broker `name` (a kill): its connections reset and new connects are refused until
    /// [`World::start_broker`]; its stored data stays.
    pub fn stop_broker(&mut self, name: &str) {
        let addr = self.broker(name).config().addr.clone();
        self.restart_broker(name);
        self.note(&format!("{name} stopped"));
        self.stopped.insert(addr);
    }

    /// Starts broker `name` again after [`World::stop_broker`].
    pub fn start_broker(&mut self, name: &str) {
        let addr = self.broker(name).config().addr.clone();
        if self.stopped.remove(&addr) {
            self.note(&format!("{name} started"));
        }
    }

    /// Partitions `addr` away (see [`SimNet::partition`]).
    pub fn partition(&mut self, addr: &str) {
        let now = self.now();
        self.net.partition(now, addr);
    }

    /// Heals a partition.
    pub fn heal(&mut self, addr: &str) {
        let now = self.now();
        self.net.heal(now, addr);
    }

    /// The transcript (empty if disabled).
    pub fn transcript(&self) -> String {
        self.transcript
            .as_ref()
            .map(Transcript::render)
            .unwrap_or_default()
    }

    /// Runs for `duration` of virtual time.
    pub fn drive(&mut self, duration: Duration) -> Result<(), SimError> {
        let end = self.now() + duration;
        self.run(end, &mut |_| false).map(|_| ())
    }

    /// Runs until `done` holds (checked whenever the world is settled), for at most `max` of
    /// virtual time; [`SimError::NotReached`] if it never holds.
    pub fn drive_until(
        &mut self,
        mut done: impl FnMut(&World) -> bool,
        max: Duration,
    ) -> Result<(), SimError> {
        let end = self.now() + max;
        match self.run(end, &mut done)? {
            true => Ok(()),
            false => Err(SimError::NotReached(max)),
        }
    }

    fn run(
        &mut self,
        end: Instant,
        done: &mut dyn FnMut(&World) -> bool,
    ) -> Result<bool, SimError> {
        loop {
            self.settle()?;
            if done(self) {
                return Ok(true);
            }
            match self.next_due() {
                Some(at) if at <= end => self.clock.advance_to(at),
                _ => {
                    self.clock.advance_to(end);
                    return Ok(done(self));
                }
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        let clients = self.clients.iter().filter_map(|c| c.timer);
        let brokers = self.brokers.iter().filter_map(SimBroker::poll_timeout);
        clients.chain(brokers).chain(self.net.next_due()).min()
    }

    /// Processes everything due now until nothing is.
    fn settle(&mut self) -> Result<(), SimError> {
        let now = self.now();
        loop {
            self.detector.step(now, self.elapsed())?;
            let mut progressed = false;
            for i in 0..self.clients.len() {
                progressed |= self.drain_client(i)?;
            }
            progressed |= self.drain_servers();
            if progressed {
                continue;
            }
            if let Some(event) = self.net.pop_due(now) {
                self.dispatch(event);
                continue;
            }
            if let Some(b) = self
                .brokers
                .iter_mut()
                .find(|b| b.poll_timeout().is_some_and(|t| t <= now))
            {
                b.handle_timeout(now);
                continue;
            }
            self.flush_notes();
            return Ok(());
        }
    }

    /// Drains client `i`'s outputs; whether any was not a timer.
    fn drain_client(&mut self, i: usize) -> Result<bool, SimError> {
        let now = self.now();
        let mut progressed = false;
        if self.clients[i].timer.is_some_and(|t| t <= now) {
            // The deadline it asked for came: wake it as a driver does.
            self.clients[i].timer = None;
            self.clients[i].wakeups += 1;
            self.clients[i].woken(now);
            self.clients[i].driven().handle_input(now, Input::Timeout);
            progressed = true;
        }
        loop {
            let output = self.clients[i].driven().poll_output(now);
            if let Some(line) = describe_output(&output) {
                self.log(&format!("c{}", i + 1), &line);
            }
            match output {
                Output::Timeout(at) => {
                    if at <= now {
                        return Err(SimError::TimerNotInFuture {
                            client: i,
                            deadline: self.clock.since_origin(at),
                            now: self.elapsed(),
                        });
                    }
                    if self.clients[i].timer != Some(at) {
                        let line = format!("Timer +{}", format_time(self.clock.since_origin(at)));
                        self.log(&format!("c{}", i + 1), &line);
                    }
                    self.clients[i].timer = Some(at);
                    return Ok(progressed);
                }
                Output::Idle => {
                    if self.clients[i].timer.take().is_some() {
                        self.log(&format!("c{}", i + 1), "Timer none");
                    }
                    return Ok(progressed);
                }
                Output::Connect { conn, addr } => {
                    let listening =
                        self.servers.contains_key(&addr) && !self.stopped.contains(&addr);
                    let link = self.net.connect(now, i, conn, &addr, listening);
                    self.links.insert((i, conn), link);
                }
                Output::Transmit { conn, head, body } => {
                    if let Some(&link) = self.links.get(&(i, conn)) {
                        self.net.send(now, link, Dir::ToServer, &head);
                        self.net.send(now, link, Dir::ToServer, &body);
                    }
                }
                Output::Close { conn } => {
                    if let Some(link) = self.links.remove(&(i, conn)) {
                        self.net.close(now, link, Side::Client);
                    }
                }
                Output::Event(event) => {
                    let at = self.elapsed();
                    self.clients[i].events.push(SimEvent { at, event });
                }
            }
            progressed = true;
        }
    }

    fn drain_servers(&mut self) -> bool {
        let now = self.now();
        let mut ios = Vec::new();
        for ns in &mut self.namesrvs {
            while let Some(io) = ns.poll_io() {
                ios.push((ns.name().to_string(), io));
            }
        }
        for b in &mut self.brokers {
            for (topic, nums) in b.take_registrations() {
                for ns in &mut self.namesrvs {
                    ns.register_topic(&b.config().name, &topic, nums);
                }
            }
            while let Some(io) = b.poll_io() {
                ios.push((b.config().name.clone(), io));
            }
        }
        let progressed = !ios.is_empty();
        for (name, io) in ios {
            match io {
                ServerIo::Send { link, bytes } => {
                    if let Some(l) = self.net.link(link) {
                        let line = format!(
                            "-> c{} conn#{} {}",
                            l.client + 1,
                            l.conn.0,
                            describe_frames(&bytes)
                        );
                        self.log(&name, &line);
                    }
                    self.net.send(now, link, Dir::ToClient, &bytes);
                }
                ServerIo::Close { link } => {
                    self.log(&name, &format!("closes link#{}", link.0));
                    self.net.close(now, link, Side::Server);
                }
            }
        }
        progressed
    }

    fn dispatch(&mut self, event: NetEvent) {
        let now = self.now();
        let link_id = match &event {
            NetEvent::ConnectOk(l) | NetEvent::ConnectFailed(l, _) => *l,
            NetEvent::Deliver(l, _, _) | NetEvent::Closed(l, _) => *l,
        };
        let Some(link) = self.net.link(link_id).cloned() else {
            return;
        };
        let (i, conn) = (link.client, link.conn);
        let server = self.servers.get(&link.server).copied();
        let actor = format!("c{}", i + 1);
        match event {
            NetEvent::ConnectOk(_) => {
                self.log(&actor, &format!("<- Connected conn#{}", conn.0));
                let peer = self.clients[i].addr;
                match server {
                    Some(Server::Namesrv(n)) => self.namesrvs[n].handle_accept(link_id, peer),
                    Some(Server::Broker(b)) => self.brokers[b].handle_accept(link_id, peer),
                    None => {}
                }
                self.clients[i]
                    .driven()
                    .handle_input(now, Input::Connected(conn));
            }
            NetEvent::ConnectFailed(_, reason) => {
                self.log(
                    &actor,
                    &format!("<- ConnectFailed conn#{} {reason}", conn.0),
                );
                self.links.remove(&(i, conn));
                self.clients[i]
                    .driven()
                    .handle_input(now, Input::ConnectFailed(conn, reason));
            }
            NetEvent::Deliver(_, Dir::ToServer, bytes) => match server {
                Some(Server::Namesrv(n)) => self.namesrvs[n].handle_bytes(now, link_id, &bytes),
                Some(Server::Broker(b)) => self.brokers[b].handle_bytes(now, link_id, &bytes),
                None => {}
            },
            NetEvent::Deliver(_, Dir::ToClient, bytes) => {
                self.clients[i].woken(now);
                self.clients[i]
                    .driven()
                    .handle_input(now, Input::Received(conn, bytes));
            }
            NetEvent::Closed(_, Side::Client) => {
                self.log(&actor, &format!("<- Closed conn#{}", conn.0));
                self.links.remove(&(i, conn));
                self.clients[i]
                    .driven()
                    .handle_input(now, Input::Closed(conn));
            }
            NetEvent::Closed(_, Side::Server) => match server {
                Some(Server::Namesrv(n)) => self.namesrvs[n].handle_closed(link_id),
                Some(Server::Broker(b)) => self.brokers[b].handle_closed(link_id),
                None => {}
            },
        }
    }

    fn note(&mut self, text: &str) {
        self.log("world", text);
    }

    fn log(&mut self, actor: &str, text: &str) {
        self.flush_notes();
        if let Some(t) = self.transcript.as_mut() {
            t.push(self.clock.elapsed(), actor, text);
        }
    }

    fn flush_notes(&mut self) {
        let notes = self.net.take_notes();
        if let Some(t) = self.transcript.as_mut() {
            for (at, note) in notes {
                t.push(self.clock.since_origin(at), "net", &note);
            }
        }
    }
}

/// Derives a sub-seed (SplitMix64 finaliser of `seed + salt`).
fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed.wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
