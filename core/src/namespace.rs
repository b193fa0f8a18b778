//! Namespaces (Java 5.x `NamespaceUtil`): one cluster shared by several tenants, each seeing
//! only its own topics and groups. A resource `R` of namespace `ns` is `ns%R` on the wire;
//! retry and DLQ topics keep their prefix in front (`%RETRY%ns%group`). System topics and
//! groups are never wrapped, nor is a resource already in the namespace.

/// Separates a namespace from the resource it wraps.
pub const SEPARATOR: char = '%';

const RETRY_PREFIX: &str = "%RETRY%";
const DLQ_PREFIX: &str = "%DLQ%";

/// Topics of the broker itself (Java `TopicValidator` system topics).
const SYSTEM_TOPICS: [&str; 10] = [
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
    "DefaultCluster",
];

/// Groups of the broker and tools (Java `MixAll` default and system groups).
const SYSTEM_GROUPS: [&str; 9] = [
    "DEFAULT_PRODUCER",
    "DEFAULT_CONSUMER",
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "__MONITOR_CONSUMER",
    "CLIENT_INNER_PRODUCER",
    "SELF_TEST_P_GROUP",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
];

/// Whether `resource` belongs to the broker or its tools and is never wrapped.
pub fn is_system_resource(resource: &str) -> bool {
    SYSTEM_TOPICS.contains(&resource)
        || SYSTEM_GROUPS.contains(&resource)
        || resource.starts_with("rmq_sys_")
        || resource.starts_with("CID_RMQ_SYS_")
}

/// `resource` without a retry or DLQ prefix, and that prefix.
fn split_prefix(resource: &str) -> (&'static str, &str) {
    if let Some(rest) = resource.strip_prefix(RETRY_PREFIX) {
        (RETRY_PREFIX, rest)
    } else if let Some(rest) = resource.strip_prefix(DLQ_PREFIX) {
        (DLQ_PREFIX, rest)
    } else {
        ("", resource)
    }
}

/// A namespace; the empty one wraps nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// The namespace `name` (empty: none).
    pub fn new(name: impl Into<String>) -> Self {
        Namespace(name.into())
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// Whether it wraps nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `resource` as the cluster knows it: `ns%resource`, `%RETRY%ns%group`, `%DLQ%ns%group`;
    /// unchanged for the empty namespace, a system resource, or one already wrapped.
    pub fn wrap(&self, resource: &str) -> String {
        if self.is_empty() || resource.is_empty() || is_system_resource(resource) {
            return resource.to_string();
        }
        let (prefix, bare) = split_prefix(resource);
        if self.owns(bare) || is_system_resource(bare) {
            return resource.to_string();
        }
        format!("{prefix}{}{SEPARATOR}{bare}", self.0)
    }

    /// `resource` as the user knows it: the inverse of [`Namespace::wrap`]; a resource of
    /// another namespace (or none) is returned as it is.
    pub fn unwrap(&self, resource: &str) -> String {
        if self.is_empty() || resource.is_empty() {
            return resource.to_string();
        }
        let (prefix, bare) = split_prefix(resource);
        match bare
            .strip_prefix(self.0.as_str())
            .and_then(|rest| rest.strip_prefix(SEPARATOR))
        {
            Some(inner) => format!("{prefix}{inner}"),
            None => resource.to_string(),
        }
    }

    /// Whether `bare` (no retry or DLQ prefix) is already in this namespace.
    fn owns(&self, bare: &str) -> bool {
        bare.strip_prefix(self.0.as_str())
            .is_some_and(|rest| rest.starts_with(SEPARATOR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_as_java() {
        let ns = Namespace::new("inst1");
        assert_eq!(ns.wrap("TopicA"), "inst1%TopicA");
        assert_eq!(ns.wrap("%RETRY%group"), "%RETRY%inst1%group");
        assert_eq!(ns.wrap("%DLQ%group"), "%DLQ%inst1%group");
        // Already wrapped, system resources and the empty namespace are left alone.
        assert_eq!(ns.wrap("inst1%TopicA"), "inst1%TopicA");
        assert_eq!(ns.wrap("%RETRY%inst1%group"), "%RETRY%inst1%group");
        assert_eq!(ns.wrap("TBW102"), "TBW102");
        assert_eq!(ns.wrap("rmq_sys_x"), "rmq_sys_x");
        assert_eq!(ns.wrap("DEFAULT_CONSUMER"), "DEFAULT_CONSUMER");
        assert_eq!(ns.wrap(""), "");
        assert_eq!(Namespace::default().wrap("TopicA"), "TopicA");
        // A namespace that is a prefix of another is not mistaken for it.
        assert_eq!(ns.wrap("inst10%TopicA"), "inst1%inst10%TopicA");
    }

    #[test]
    fn unwrap_inverts_wrap() {
        let ns = Namespace::new("inst1");
        for r in ["TopicA", "%RETRY%group", "%DLQ%group", "a%b", "TBW102"] {
            assert_eq!(ns.unwrap(&ns.wrap(r)), r, "{r}");
        }
        // Another namespace's resource comes back as it is.
        assert_eq!(ns.unwrap("inst2%TopicA"), "inst2%TopicA");
        assert_eq!(ns.unwrap("inst10%TopicA"), "inst10%TopicA");
        assert_eq!(Namespace::default().unwrap("inst1%TopicA"), "inst1%TopicA");
    }
}
