//! The message a producer sends: topic, flag, properties and body.

use std::sync::Arc;

use bytes::Bytes;

use super::properties::{validate_property, Properties};
use super::{keys, MessageError};

/// A message: topic, user flag, properties and body (Java `Message`).
///
/// Properties are kept in name order so that their encoding is deterministic. Every stored
/// property survives the properties string (see [`validate_property`]): setters refuse
/// anything else.
///
/// Clones share the properties until one of them changes its own (copy on write), so a
/// consumer handing the same message to its cache and to a handler copies no property.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Topic (without namespace wrapping).
    pub topic: String,
    /// User flag, carried opaquely.
    pub flag: i32,
    /// Body, never copied by the client.
    pub body: Bytes,
    properties: Arc<Properties>,
}

impl Message {
    /// A message with `WAIT=true`, like every Java `Message` constructor.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        let mut properties = Properties::new();
        properties.insert(keys::WAIT_STORE_MSG_OK.to_owned(), "true".to_owned());
        Message {
            topic: topic.into(),
            flag: 0,
            body: body.into(),
            properties: Arc::new(properties),
        }
    }

    /// A message from already-decoded parts. Properties that would not survive the
    /// properties string (see [`validate_property`]) are dropped.
    pub fn from_parts(topic: String, flag: i32, properties: Properties, body: Bytes) -> Self {
        let properties = Arc::new(
            properties
                .into_iter()
                .filter(|(k, v)| validate_property(k, v).is_ok())
                .collect(),
        );
        Message {
            topic,
            flag,
            body,
            properties,
        }
    }

    /// Builds a message from parts a decoder produced with the properties rules, so they are
    /// valid by construction.
    pub(crate) fn from_decoded(
        topic: String,
        flag: i32,
        properties: Properties,
        body: Bytes,
    ) -> Self {
        Message {
            topic,
            flag,
            body,
            properties: Arc::new(properties),
        }
    }

    /// This message's own properties, copied first if a clone shares them.
    fn properties_mut(&mut self) -> &mut Properties {
        Arc::make_mut(&mut self.properties)
    }

    /// All properties, in name order.
    pub fn properties(&self) -> &Properties {
        &self.properties
    }

    /// One property.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

    /// Sets any property, system keys included (Java `putProperty`). Refuses names and values
    /// the properties string cannot carry.
    pub fn set_property(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), MessageError> {
        let (name, value) = (name.into(), value.into());
        validate_property(&name, &value)?;
        self.properties_mut().insert(name, value);
        Ok(())
    }

    /// Removes a property, returning its value.
    pub fn remove_property(&mut self, name: &str) -> Option<String> {
        // An absent property leaves shared properties shared.
        if !self.properties.contains_key(name) {
            return None;
        }
        self.properties_mut().remove(name)
    }

    /// Sets a user property as Java `putUserProperty` does: system keys
    /// ([`keys::SYSTEM_KEYS`]) are refused with [`MessageError::SystemProperty`], blank names or
    /// values with [`MessageError::BlankProperty`].
    pub fn put_user_property(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), MessageError> {
        let (name, value) = (name.into(), value.into());
        if keys::is_system_key(&name) {
            return Err(MessageError::SystemProperty(name));
        }
        if name.trim().is_empty() || value.trim().is_empty() {
            return Err(MessageError::BlankProperty);
        }
        self.set_property(name, value)
    }

    /// The tag (`TAGS`).
    pub fn tags(&self) -> Option<&str> {
        self.property(keys::TAGS)
    }

    /// Sets the tag (`TAGS`).
    pub fn set_tags(&mut self, tags: impl Into<String>) -> Result<(), MessageError> {
        self.set_property(keys::TAGS, tags)
    }

    /// The raw `KEYS` property (keys separated by a single space).
    pub fn keys(&self) -> Option<&str> {
        self.property(keys::KEYS)
    }

    /// The business keys, split on spaces (empty pieces skipped).
    pub fn key_list(&self) -> impl Iterator<Item = &str> {
        self.keys()
            .unwrap_or_default()
            .split(keys::KEY_SEPARATOR)
            .filter(|k| !k.is_empty())
    }

    /// Sets the business keys, joined by a single space (Java `setKeys(Collection)`).
    pub fn set_keys<I, S>(&mut self, list: I) -> Result<(), MessageError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut joined = String::new();
        for (i, key) in list.into_iter().enumerate() {
            if i > 0 {
                joined.push_str(keys::KEY_SEPARATOR);
            }
            joined.push_str(key.as_ref());
        }
        self.set_property(keys::KEYS, joined)
    }

    /// The delay level (`DELAY`): 0 when absent, an error when not an integer (Java
    /// `getDelayTimeLevel` throws `NumberFormatException` there).
    pub fn delay_level(&self) -> Result<i32, MessageError> {
        match self.property(keys::DELAY_TIME_LEVEL) {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| MessageError::InvalidProperty {
                name: keys::DELAY_TIME_LEVEL.to_owned(),
                reason: "not an integer",
            }),
        }
    }

    /// Sets the delay level (`DELAY`).
    pub fn set_delay_level(&mut self, level: i32) {
        self.properties_mut()
            .insert(keys::DELAY_TIME_LEVEL.to_owned(), level.to_string());
    }

    /// 5.x timer delivery: deliver `delay_ms` milliseconds after the broker stores the message
    /// (`TIMER_DELAY_MS`, Java `setDelayTimeMs`).
    pub fn set_delay_time_ms(&mut self, delay_ms: i64) {
        self.properties_mut()
            .insert(keys::TIMER_DELAY_MS.to_owned(), delay_ms.to_string());
    }

    /// 5.x timer delivery: deliver at this wall-clock time, in ms since the epoch
    /// (`TIMER_DELIVER_MS`, Java `setDeliverTimeMs`).
    pub fn set_deliver_time_ms(&mut self, at_ms: i64) {
        self.properties_mut()
            .insert(keys::TIMER_DELIVER_MS.to_owned(), at_ms.to_string());
    }

    /// The timer delivery time or delay, if set: `(TIMER_DELIVER_MS, TIMER_DELAY_MS)`.
    pub fn timer_delivery(&self) -> (Option<i64>, Option<i64>) {
        let read = |k| self.property(k).and_then(|v| v.parse::<i64>().ok());
        (read(keys::TIMER_DELIVER_MS), read(keys::TIMER_DELAY_MS))
    }

    /// Whether the broker should wait for the store (`WAIT`): true when absent, else Java
    /// `Boolean.parseBoolean` (case-insensitive `"true"`).
    pub fn wait_store_msg_ok(&self) -> bool {
        self.property(keys::WAIT_STORE_MSG_OK)
            .is_none_or(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Sets `WAIT`.
    pub fn set_wait_store_msg_ok(&mut self, wait: bool) {
        self.properties_mut()
            .insert(keys::WAIT_STORE_MSG_OK.to_owned(), wait.to_string());
    }

    /// The client-generated unique id (`UNIQ_KEY`).
    pub fn unique_key(&self) -> Option<&str> {
        self.property(keys::UNIQ_KEY)
    }

    /// Sets `UNIQ_KEY` unless present (Java `MessageClientIDSetter.setUniqID`); returns the id
    /// now on the message.
    pub fn set_unique_key_if_absent(&mut self, make: impl FnOnce() -> String) -> &str {
        // A message sent again keeps its id without copying shared properties.
        if !self.properties.contains_key(keys::UNIQ_KEY) {
            self.properties_mut()
                .insert(keys::UNIQ_KEY.to_owned(), make());
        }
        self.unique_key().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_properties_until_one_changes() {
        let mut original = Message::new("T", "b");
        original.put_user_property("k", "v").unwrap();
        original.set_unique_key_if_absent(|| "id".into());
        let mut copy = original.clone();
        assert_eq!(copy.remove_property("absent"), None);
        assert_eq!(copy.set_unique_key_if_absent(|| "other".into()), "id");
        assert!(
            Arc::ptr_eq(&original.properties, &copy.properties),
            "shared"
        );
        copy.put_user_property("k", "changed").unwrap();
        copy.remove_property(keys::WAIT_STORE_MSG_OK);
        assert_eq!(
            original.property("k"),
            Some("v"),
            "the original keeps its own"
        );
        assert_eq!(original.property(keys::WAIT_STORE_MSG_OK), Some("true"));
        assert_eq!(copy.property("k"), Some("changed"));
        assert!(!Arc::ptr_eq(&original.properties, &copy.properties));
    }

    #[test]
    fn timer_delivery_properties() {
        let mut m = Message::new("T", "b");
        assert_eq!(m.timer_delivery(), (None, None));
        m.set_delay_time_ms(1500);
        m.set_deliver_time_ms(1_700_000_000_000);
        assert_eq!(m.property("TIMER_DELAY_MS"), Some("1500"));
        assert_eq!(m.timer_delivery(), (Some(1_700_000_000_000), Some(1500)));
    }

    #[test]
    fn new_sets_wait_true() {
        let m = Message::new("T", "b");
        assert_eq!(m.property("WAIT"), Some("true"));
        assert!(m.wait_store_msg_ok());
    }

    #[test]
    fn wait_parsing_follows_java() {
        let mut m = Message::new("T", "b");
        m.remove_property("WAIT");
        assert!(m.wait_store_msg_ok());
        for (v, expected) in [("TRUE", true), ("false", false), ("yes", false)] {
            m.set_property("WAIT", v).unwrap();
            assert_eq!(m.wait_store_msg_ok(), expected, "{v}");
        }
    }

    #[test]
    fn user_properties_refuse_system_keys_and_blanks() {
        let mut m = Message::new("T", "b");
        assert_eq!(
            m.put_user_property("TAGS", "x"),
            Err(MessageError::SystemProperty("TAGS".into()))
        );
        assert_eq!(
            m.put_user_property("__CRC32#", "x"),
            Err(MessageError::SystemProperty("__CRC32#".into()))
        );
        assert_eq!(
            m.put_user_property(" ", "x"),
            Err(MessageError::BlankProperty)
        );
        assert_eq!(
            m.put_user_property("a", "  "),
            Err(MessageError::BlankProperty)
        );
        m.put_user_property("a", "1").unwrap();
        // Not in Java's set: allowed as a user property.
        m.put_user_property("__SHARDINGKEY", "s").unwrap();
        assert_eq!(m.property("a"), Some("1"));
    }

    #[test]
    fn keys_and_tags() {
        let mut m = Message::new("T", "b");
        m.set_keys(["k1", "k2"]).unwrap();
        m.set_tags("TagA").unwrap();
        assert_eq!(m.keys(), Some("k1 k2"));
        assert_eq!(m.key_list().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(m.tags(), Some("TagA"));
        assert!(
            m.set_keys(Vec::<String>::new()).is_err(),
            "empty KEYS would vanish"
        );
    }

    #[test]
    fn delay_level() {
        let mut m = Message::new("T", "b");
        assert_eq!(m.delay_level(), Ok(0));
        m.set_delay_level(3);
        assert_eq!(m.delay_level(), Ok(3));
        m.set_property("DELAY", "x").unwrap();
        assert!(m.delay_level().is_err());
    }

    #[test]
    fn unique_key_set_once() {
        let mut m = Message::new("T", "b");
        assert_eq!(m.unique_key(), None);
        assert_eq!(m.set_unique_key_if_absent(|| "A".into()), "A");
        assert_eq!(m.set_unique_key_if_absent(|| "B".into()), "A");
        assert_eq!(m.unique_key(), Some("A"));
    }

    #[test]
    fn from_parts_drops_unencodable_properties() {
        let mut p = Properties::new();
        p.insert("ok".into(), "1".into());
        p.insert("".into(), "1".into());
        p.insert("bad".into(), "a\u{2}b".into());
        let m = Message::from_parts("T".into(), 0, p, Bytes::new());
        assert_eq!(m.properties().len(), 1);
    }
}
