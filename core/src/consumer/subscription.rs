//! Subscriptions: tag expressions and SQL92 filters (protocol §5.3, §6.7 step 3).

use crate::body::{ExpressionType, SubscriptionData};
use crate::message::{tag_hash, MessageExt};

use super::retry::retry_topic;

/// The expression meaning "every message".
pub const SUB_ALL: &str = "*";

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The topic is blank.
    #[error("subscription topic is blank")]
    BlankTopic,
    /// An SQL92 expression is blank (Java: "Expression can't be null").
    #[error("SQL92 expression is blank")]
    BlankSql,
    /// A tag expression has separators but no tag (`"||"`); brokers would match nothing.
    #[error("tag expression {0:?} names no tag")]
    NoTags(String),
}

/// What a subscription lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every message (`*` or an empty expression).
    All,
    /// Messages whose tag is one of `tags` (`a || b`).
    Tags {
        /// The expression as given.
        expression: String,
        /// Trimmed, distinct tags in expression order.
        tags: Vec<String>,
        /// Java `String.hashCode` of each tag (brokers filter by these).
        codes: Vec<i32>,
    },
    /// An SQL92 expression over properties, evaluated by the broker only.
    Sql92(String),
}

/// One topic subscription of a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    topic: String,
    filter: Filter,
}

impl Subscription {
    /// A tag subscription (Java `FilterAPI.buildSubscriptionData`): empty or `*` is
    /// [`Filter::All`]; otherwise split on `||`, trimmed, empties and duplicates dropped.
    /// The expression sent to brokers is the tags joined by `||` without spaces: Java's
    /// broker trims each tag, but the rocketmq-rust broker (1.0.0) matches `TagA || TagB`
    /// against no message at all, while `TagA||TagB` means the same everywhere.
    pub fn tag(topic: impl Into<String>, expression: &str) -> Result<Self, SubscriptionError> {
        let topic = non_blank(topic.into())?;
        if expression.trim().is_empty() || expression.trim() == SUB_ALL {
            return Ok(Self {
                topic,
                filter: Filter::All,
            });
        }
        let data = SubscriptionData::build(topic.clone(), expression, 0);
        if data.tags_set.is_empty() {
            return Err(SubscriptionError::NoTags(expression.to_owned()));
        }
        Ok(Self {
            topic,
            filter: Filter::Tags {
                expression: data.tags_set.join("||"),
                tags: data.tags_set,
                codes: data.code_set,
            },
        })
    }

    /// An SQL92 subscription, passed to the broker as is.
    pub fn sql92(topic: impl Into<String>, expression: &str) -> Result<Self, SubscriptionError> {
        let topic = non_blank(topic.into())?;
        if expression.trim().is_empty() {
            return Err(SubscriptionError::BlankSql);
        }
        Ok(Self {
            topic,
            filter: Filter::Sql92(expression.to_owned()),
        })
    }

    /// A subscription of either expression type.
    pub fn parse(
        topic: impl Into<String>,
        kind: ExpressionType,
        expression: &str,
    ) -> Result<Self, SubscriptionError> {
        match kind {
            ExpressionType::Tag => Self::tag(topic, expression),
            ExpressionType::Sql92 => Self::sql92(topic, expression),
        }
    }

    /// The `%RETRY%<group>` subscription (every message) of a clustering push consumer.
    pub fn retry(group: &str) -> Self {
        Self {
            topic: retry_topic(group),
            filter: Filter::All,
        }
    }

    /// The same subscription of another topic (a namespace wraps the user's topic).
    pub(crate) fn with_topic(mut self, topic: String) -> Self {
        self.topic = topic;
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The filter.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The expression as sent to brokers (`*` for [`Filter::All`]).
    pub fn expression(&self) -> &str {
        match &self.filter {
            Filter::All => SUB_ALL,
            Filter::Tags { expression, .. } => expression,
            Filter::Sql92(e) => e,
        }
    }

    /// `TAG` or `SQL92`.
    pub fn expression_type(&self) -> ExpressionType {
        match self.filter {
            Filter::Sql92(_) => ExpressionType::Sql92,
            _ => ExpressionType::Tag,
        }
    }

    /// The heartbeat form, with `sub_version` (the wall-clock ms of the last change).
    pub fn to_data(&self, sub_version: i64) -> SubscriptionData {
        let mut data = SubscriptionData {
            topic: self.topic.clone(),
            sub_string: self.expression().to_owned(),
            sub_version,
            expression_type: self.expression_type(),
            ..SubscriptionData::default()
        };
        if let Filter::Tags { tags, codes, .. } = &self.filter {
            data.tags_set = tags.clone();
            data.code_set = codes.clone();
        }
        data
    }

    /// The client-side re-check of a pulled message (Java `PullAPIWrapper.processPullResult`):
    /// with a tag set, only messages whose `TAGS` is one of the tags pass (brokers filter by
    /// hash code, which can collide); everything passes otherwise.
    pub fn matches(&self, msg: &MessageExt) -> bool {
        match &self.filter {
            Filter::Tags { tags, .. } => msg
                .message
                .tags()
                .is_some_and(|t| tags.iter().any(|x| x == t)),
            Filter::All | Filter::Sql92(_) => true,
        }
    }

    /// Whether a tag `hash` passes the broker-side filter (for simulated brokers).
    pub fn matches_code(&self, hash: i32) -> bool {
        match &self.filter {
            Filter::Tags { codes, .. } => codes.contains(&hash),
            Filter::All | Filter::Sql92(_) => true,
        }
    }
}

/// Java `String.hashCode` of a message's tag as a broker stores it (0 without a tag).
pub fn message_tag_code(msg: &MessageExt) -> i32 {
    msg.message.tags().map(tag_hash).unwrap_or(0)
}

fn non_blank(topic: String) -> Result<String, SubscriptionError> {
    if topic.trim().is_empty() {
        Err(SubscriptionError::BlankTopic)
    } else {
        Ok(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn msg(tag: Option<&str>) -> MessageExt {
        let mut m = Message::new("T", &b"x"[..]);
        if let Some(t) = tag {
            m.set_tags(t).unwrap();
        }
        MessageExt::from_message(m)
    }

    #[test]
    fn tags_and_codes() {
        let s = Subscription::tag("T", " TagA || TagB || TagA ").unwrap();
        let d = s.to_data(42);
        // Sent without spaces: a broker that does not trim tags still matches them.
        assert_eq!(d.sub_string, "TagA||TagB");
        assert_eq!(s.expression(), "TagA||TagB");
        assert_eq!(d.tags_set, vec!["TagA", "TagB"]);
        // Java "TagA".hashCode() == 2598919, "TagB".hashCode() == 2598920.
        assert_eq!(d.code_set, vec![2_598_919, 2_598_920]);
        assert_eq!(d.sub_version, 42);
        assert_eq!(d.expression_type, ExpressionType::Tag);
        assert!(s.matches(&msg(Some("TagB"))));
        assert!(!s.matches(&msg(Some("TagC"))));
        assert!(!s.matches(&msg(None)));
        assert!(s.matches_code(2_598_919) && !s.matches_code(42));
    }

    #[test]
    fn all_and_sql() {
        for e in ["", "*", " * "] {
            let s = Subscription::tag("T", e).unwrap();
            assert_eq!(s.filter(), &Filter::All);
            let d = s.to_data(1);
            assert_eq!(d.sub_string, "*");
            assert!(d.is_sub_all());
            assert!(s.matches(&msg(None)));
        }
        let s = Subscription::sql92("T", "a > 1").unwrap();
        let d = s.to_data(1);
        assert_eq!(d.expression_type, ExpressionType::Sql92);
        assert_eq!(d.sub_string, "a > 1");
        assert!(d.tags_set.is_empty());
        assert!(s.matches(&msg(Some("whatever"))));
        assert_eq!(
            Subscription::sql92("T", " "),
            Err(SubscriptionError::BlankSql)
        );
        assert_eq!(
            Subscription::tag("T", "||"),
            Err(SubscriptionError::NoTags("||".into()))
        );
        assert_eq!(
            Subscription::tag(" ", "*"),
            Err(SubscriptionError::BlankTopic)
        );
    }

    #[test]
    fn retry_subscription() {
        let s = Subscription::retry("cg");
        assert_eq!(s.topic(), "%RETRY%cg");
        assert_eq!(s.expression(), "*");
        assert_eq!(message_tag_code(&msg(Some("TagA"))), 2_598_919);
        assert_eq!(message_tag_code(&msg(None)), 0);
    }
}
