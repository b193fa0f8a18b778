//! The publish views of the topics producers send to (Java `topicPublishInfoTable`): built
//! from a topic's route, or from the template topic's route for a topic the brokers will
//! auto-create. Shared by every producer of the client.

use std::collections::{HashMap, HashSet};

use crate::producer::TopicPublishInfo;

/// Publish views by topic, and which of them come from the template route.
#[derive(Debug, Default)]
pub(in crate::client) struct PublishViews {
    views: HashMap<String, TopicPublishInfo>,
    from_default: HashSet<String>,
}

impl PublishViews {
    pub(in crate::client) fn contains(&self, topic: &str) -> bool {
        self.views.contains_key(topic)
    }

    pub(in crate::client) fn get(&self, topic: &str) -> Option<&TopicPublishInfo> {
        self.views.get(topic)
    }

    pub(in crate::client) fn get_mut(&mut self, topic: &str) -> Option<&mut TopicPublishInfo> {
        self.views.get_mut(topic)
    }

    /// Whether `topic`'s view already comes from the template route and offers the queues
    /// `info` offers, on the same broker addresses.
    pub(in crate::client) fn has_default_view(&self, topic: &str, info: &TopicPublishInfo) -> bool {
        self.from_default.contains(topic)
            && self.views.get(topic).is_some_and(|view| {
                view.queues() == info.queues() && masters_of(view) == masters_of(info)
            })
    }

    /// Drops a topic's view: the next send fetches its route again.
    pub(in crate::client) fn remove(&mut self, topic: &str) {
        self.views.remove(topic);
    }

    /// Topics with a view (their routes are refreshed periodically).
    pub(in crate::client) fn topics(&self) -> impl Iterator<Item = &String> {
        self.views.keys()
    }

    /// Installs `info` as `topic`'s view; returns the broker masters it names.
    pub(in crate::client) fn install(
        &mut self,
        topic: &str,
        info: TopicPublishInfo,
        from_default: bool,
    ) -> Vec<String> {
        let masters = masters_of(&info);
        self.views.insert(topic.to_string(), info);
        if from_default {
            self.from_default.insert(topic.to_string());
        } else {
            self.from_default.remove(topic);
        }
        masters
    }

    /// Broker masters named by any view.
    pub(in crate::client) fn master_addrs(&self) -> Vec<String> {
        self.views.values().flat_map(masters_of).collect()
    }
}

fn masters_of(info: &TopicPublishInfo) -> Vec<String> {
    info.queues()
        .iter()
        .filter_map(|q| info.master_addr(&q.broker_name).map(str::to_string))
        .collect()
}
