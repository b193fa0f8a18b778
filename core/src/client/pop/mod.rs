//! POP consumers inside the client (RocketMQ 5.x): one owned [`PopMachine`] per consumer
//! created with [`crate::consumer::ConsumerConfig::pop`] set, and the router glue that lends
//! each its [`PopEnv`], carries out what it asks for and routes answers back to it.
//!
//! A POP consumer shares the push consumer's surface: [`crate::Event::Deliver`],
//! [`ClientCore::ack`], [`ClientCore::close_consumer`], [`crate::Event::ConsumerClosed`]. It has
//! no queues of its own (the broker keeps the group's position), so the queue commands
//! (`assign`, `seek`, `pause`, `resume`, `commit_offsets`, `subscribe`, `unsubscribe`) refuse
//! it with [`Misuse::PopConsumer`].

use std::collections::BTreeMap;
use std::time::Instant;

use super::consumer::{ConsumerError, ConsumerId};
use super::misuse::Misuse;
use super::{ClientCore, OpId, Pending};
use crate::body::{ConsumerData, TopicRouteData};
use crate::codec::RemotingCommand;
use crate::consumer::{ConsumerConfig, PopConfig, Subscription};
use crate::remoting::InvokeError;

mod close;
mod machine;
mod settle;
#[cfg(test)]
mod tests;

pub(super) use machine::PopRequest;
use machine::{PopEnv, PopMachine, PopOutput};

/// The client's POP consumers, by id (ids and delivery ids come from the consumer table).
#[derive(Debug, Default)]
pub(super) struct PopTable {
    machines: BTreeMap<ConsumerId, PopMachine>,
}

impl PopTable {
    pub(super) fn any(&self) -> bool {
        !self.machines.is_empty()
    }

    pub(super) fn contains(&self, id: ConsumerId) -> bool {
        self.machines.contains_key(&id)
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.machines
            .values()
            .filter_map(|m| m.poll_timeout())
            .min()
    }

    pub(super) fn group_in_use(&self, group: &str) -> bool {
        self.machines
            .values()
            .any(|m| m.is_live() && m.group() == group)
    }

    pub(super) fn topics(&self) -> impl Iterator<Item = &String> {
        self.machines.values().flat_map(|m| m.topics())
    }

    pub(super) fn ids(&self) -> Vec<ConsumerId> {
        self.machines.keys().copied().collect()
    }

    pub(super) fn deliveries_in_flight(&self) -> usize {
        self.machines
            .values()
            .map(|m| m.deliveries_in_flight())
            .sum()
    }

    pub(super) fn heartbeat_data(&self) -> impl Iterator<Item = ConsumerData> + '_ {
        self.machines.values().filter_map(|m| m.heartbeat_data())
    }

    pub(super) fn any_live(&self) -> bool {
        self.machines.values().any(|m| m.is_live())
    }

    pub(super) fn min_rebalance_interval(&self) -> Option<std::time::Duration> {
        self.machines
            .values()
            .map(|m| m.config().rebalance_interval)
            .min()
    }

    fn owner_of(&self, delivery: super::consumer::DeliveryId) -> Option<ConsumerId> {
        self.machines
            .iter()
            .find(|(_, m)| m.has_delivery(delivery))
            .map(|(id, _)| *id)
    }

    fn group_of(&self, id: ConsumerId) -> Option<&str> {
        self.machines.get(&id).map(|m| m.group())
    }
}

impl ClientCore {
    /// Registers a POP consumer (the caller checked the group and the subscriptions, and
    /// wrapped both in the namespace).
    pub(super) fn create_pop_consumer(
        &mut self,
        now: Instant,
        config: ConsumerConfig,
        pop: PopConfig,
        subs: BTreeMap<String, Subscription>,
    ) -> Result<ConsumerId, ConsumerError> {
        let id = self.consumers.alloc_id();
        let wall_ms = self.wall.now_millis();
        self.trace_consumer(id, &config.group, config.trace_topic.as_deref());
        let machine = PopMachine::new(id, config, pop, subs, wall_ms);
        self.pops.machines.insert(id, machine);
        self.send_heartbeats(now, None);
        self.drive_pop(now, id, |m, env| m.refresh(now, env));
        self.arm_periodic(now);
        Ok(id)
    }

    /// [`ClientCore::ack`] of a POP delivery; `None` when no POP consumer has it out.
    pub(super) fn pop_ack(
        &mut self,
        now: Instant,
        delivery: super::consumer::DeliveryId,
        outcome: super::consumer::ConsumeOutcome,
    ) -> Option<Result<(), Misuse>> {
        let id = self.pops.owner_of(delivery)?;
        self.drive_pop(now, id, |m, env| m.ack(now, env, delivery, outcome))
    }

    /// [`ClientCore::close_consumer`] of a POP consumer; `None` when `id` is not one.
    pub(super) fn pop_close(
        &mut self,
        now: Instant,
        id: ConsumerId,
    ) -> Option<Result<OpId, Misuse>> {
        let live = self.pops.machines.get(&id)?.is_live();
        if !live {
            return Some(Err(Misuse::ConsumerClosing(id)));
        }
        let op = self.alloc_op();
        self.drive_pop(now, id, |m, env| m.close(now, env, op));
        Some(Ok(op))
    }

    /// [`ClientCore::abandon_deliveries`] of a POP consumer; `None` when `id` is not one.
    pub(super) fn pop_abandon(&mut self, now: Instant, id: ConsumerId) -> Option<()> {
        self.drive_pop(now, id, |m, env| m.abandon_deliveries(now, env))
    }

    /// The group of POP consumer `id`, with its namespace.
    pub(super) fn pop_group(&self, id: ConsumerId) -> Option<&str> {
        self.pops.group_of(id)
    }

    /// Refuses a queue command for a POP consumer; `Ok` for any other id.
    pub(super) fn refuse_pop(&self, id: ConsumerId) -> Result<(), Misuse> {
        if self.pops.contains(id) {
            return Err(Misuse::PopConsumer(id));
        }
        Ok(())
    }

    /// Calls `f` on POP consumer `id` with its [`PopEnv`], then carries out what it asked
    /// for, in order; a machine whose close finished is dropped. `None` for an unknown id.
    fn drive_pop<R>(
        &mut self,
        now: Instant,
        id: ConsumerId,
        f: impl FnOnce(&mut PopMachine, &mut PopEnv<'_>) -> R,
    ) -> Option<R> {
        let machine = self.pops.machines.get_mut(&id)?;
        let mut env = PopEnv {
            wall: self.wall.as_ref(),
            routes: &self.routes,
            rng: &mut self.rng,
            next_delivery: self.consumers.next_delivery_mut(),
            request_timeout: self.config.request_timeout,
            brokers: self.brokers.addrs(),
            client_id: &self.client_id,
            stopped: self.closing,
        };
        let result = f(machine, &mut env);
        self.flush_pop(now, id);
        Some(result)
    }

    fn flush_pop(&mut self, now: Instant, id: ConsumerId) {
        while let Some(output) = self
            .pops
            .machines
            .get_mut(&id)
            .and_then(PopMachine::poll_output)
        {
            match output {
                PopOutput::Request {
                    addr,
                    command,
                    timeout,
                    request,
                } => {
                    let pending = Pending::Pop(id, request);
                    self.request(now, &addr, command, timeout, pending)
                }
                PopOutput::Route(topic) => {
                    self.request_route(now, &topic, super::route::Waiter::Pop(id))
                }
                PopOutput::Event(event) => self.events.push_back(event),
            }
        }
        if self
            .pops
            .machines
            .get(&id)
            .is_some_and(PopMachine::is_finished)
        {
            self.pops.machines.remove(&id);
        }
    }

    fn drive_all_pops(
        &mut self,
        now: Instant,
        mut f: impl FnMut(&mut PopMachine, &mut PopEnv<'_>),
    ) {
        for id in self.pops.ids() {
            self.drive_pop(now, id, &mut f);
        }
    }

    /// A route a POP consumer asked for arrived (`None`: there is none).
    pub(super) fn pop_route_ready(
        &mut self,
        now: Instant,
        id: ConsumerId,
        topic: &str,
        route: Option<TopicRouteData>,
    ) {
        self.drive_pop(now, id, |m, env| m.handle_route(now, env, topic, route));
    }

    /// A POP consumer's request finished; a lost connection is handled first.
    pub(super) fn finish_pop_request(
        &mut self,
        now: Instant,
        id: ConsumerId,
        request: PopRequest,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        if let Err(InvokeError::ConnectionClosed { addr }) = &result {
            self.connection_lost(now, addr);
        }
        self.drive_pop(now, id, |m, env| {
            m.handle_response(now, env, request, result)
        });
    }

    /// The periodic round: every POP consumer looks at its topics' routes again (brokers
    /// come and go).
    pub(super) fn refresh_pops(&mut self, now: Instant) {
        self.drive_all_pops(now, |m, env| m.refresh(now, env));
    }

    /// The POP consumers' timers whose time came.
    pub(super) fn run_pop_timers(&mut self, now: Instant) {
        self.drive_all_pops(now, |m, env| m.handle_timeout(now, env));
    }

    /// Broker `addr` is back: POP consumers waiting on it pop now.
    pub(super) fn pops_broker_back(&mut self, now: Instant, addr: &str) {
        self.drive_all_pops(now, |m, env| m.broker_back(now, env, addr));
    }

    /// Drops every POP consumer timer: the client is closed.
    pub(super) fn stop_pop_timers(&mut self) {
        for m in self.pops.machines.values_mut() {
            m.stop_timers();
        }
    }
}
