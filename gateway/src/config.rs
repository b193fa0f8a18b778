//! The gateway's YAML config: the original gateway's keys, read as is, plus rocketwire's own
//! (all optional), then `ROCKETWIRE_GATEWAY_*` environment overrides.
//!
//! ```yaml
//! server:
//!   listen_port: 50051
//! rocketmq:
//!   nameservers: ["127.0.0.1:9876"]
//!   producer:
//!     group_name: gateway_producer_group
//!     send_retry_times: 2
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use rocketwire_core::acl::Credentials;
use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::namespace::Namespace;
use rocketwire_core::ClientConfig;
use rocketwire_driver::{DriverOptions, TlsConfig};
use serde::Deserialize;

/// The original gateway's default port.
pub const DEFAULT_PORT: u16 = 50051;

/// Why the config cannot be used. Each names the file or variable and the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde_yaml's message (names the key, line and column).
        message: String,
    },
    /// An environment override has a bad value.
    #[error("environment variable {name}={value}: {reason}")]
    Env {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value is out of range or keys contradict each other.
    #[error("config: {0}")]
    Invalid(String),
}

/// The whole config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// `server.*`.
    pub server: ServerConfig,
    /// `rocketmq.*`.
    pub rocketmq: RocketMqConfig,
}

/// `server.*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `server.listen_port` (original; default 50051).
    pub listen_port: u16,
    /// `server.listen_address`: the address to bind (default `0.0.0.0`, as the original).
    pub listen_address: String,
    /// `server.shutdown_timeout_ms`: how long a graceful shutdown waits for in-flight sends and
    /// deliveries (default 10,000).
    pub shutdown_timeout_ms: u64,
    /// `server.metrics_port`: serve Prometheus metrics on `listen_address:metrics_port` at
    /// `/metrics` (default: none).
    pub metrics_port: Option<u16>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen_port: DEFAULT_PORT,
            listen_address: "0.0.0.0".into(),
            shutdown_timeout_ms: 10_000,
            metrics_port: None,
        }
    }
}

/// `rocketmq.*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RocketMqConfig {
    /// `rocketmq.nameservers` (original): `host:port` entries.
    pub nameservers: Vec<String>,
    /// `rocketmq.producer.*`.
    pub producer: ProducerSection,
    /// `rocketmq.consumer.*`.
    pub consumer: ConsumerSection,
    /// `rocketmq.access_key` (ACL; with `secret_key`).
    pub access_key: Option<String>,
    /// `rocketmq.secret_key`.
    pub secret_key: Option<String>,
    /// `rocketmq.namespace`: a tenant's namespace (Java 5.x wrapping).
    pub namespace: Option<String>,
    /// `rocketmq.instance_name`: the client's instance name (its client id).
    pub instance_name: Option<String>,
    /// `rocketmq.tls.*`: TLS towards the namesrvs and brokers.
    pub tls: TlsSection,
}

impl Default for RocketMqConfig {
    fn default() -> Self {
        Self {
            nameservers: vec!["127.0.0.1:9876".into()],
            producer: ProducerSection::default(),
            consumer: ConsumerSection::default(),
            access_key: None,
            secret_key: None,
            namespace: None,
            instance_name: None,
            tls: TlsSection::default(),
        }
    }
}

/// `rocketmq.producer.*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ProducerSection {
    /// `group_name` (original).
    pub group_name: String,
    /// `send_retry_times` (original): retries on another broker (Java
    /// `retryTimesWhenSendFailed`, default 2).
    pub send_retry_times: u32,
    /// `send_timeout_ms`: the budget of one send, retries included (default 3,000).
    pub send_timeout_ms: u64,
}

impl Default for ProducerSection {
    fn default() -> Self {
        Self {
            group_name: "rocketwire_gateway_producer".into(),
            send_retry_times: 2,
            send_timeout_ms: 3_000,
        }
    }
}

/// `rocketmq.consumer.*`: the consumers the gateway runs for subscribing streams.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ConsumerSection {
    /// `consume_from`: where a group without a stored offset starts, `last` (default) or
    /// `first`.
    pub consume_from: String,
    /// `window`: unacknowledged deliveries per v1 `Consume` stream when the client asks none
    /// (default 32).
    pub window: u32,
    /// `subscribe_window`: deliveries per original-API `Subscribe` stream not yet counted as
    /// consumed (handed over less than 200 ms ago; default 512, so a stream can carry about
    /// 2,500 messages a second).
    pub subscribe_window: u32,
    /// `max_window`: the most a client may ask (default 1,024).
    pub max_window: u32,
    /// `max_in_flight`: messages one group has handed to the gateway's streams and not yet
    /// settled (default 1,024): with the consumer's own per-queue buffer, what bounds memory.
    pub max_in_flight: usize,
    /// `linger_ms`: how long a group's consumer keeps running after its last stream ended,
    /// holding what it had fetched for the next stream (default 30,000).
    pub linger_ms: u64,
}

impl Default for ConsumerSection {
    fn default() -> Self {
        Self {
            consume_from: "last".into(),
            window: 32,
            subscribe_window: 512,
            max_window: 1024,
            max_in_flight: 1024,
            linger_ms: 30_000,
        }
    }
}

/// `rocketmq.tls.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TlsSection {
    /// `enabled`: TLS with the system's roots unless `ca_file` is given.
    pub enabled: bool,
    /// `ca_file`: PEM file of the CA to trust (implies `enabled`).
    pub ca_file: Option<PathBuf>,
    /// `server_name`: the name to verify instead of the dialled host.
    pub server_name: Option<String>,
    /// `insecure_skip_verify`: do not check certificates (testing only).
    pub insecure_skip_verify: bool,
}

/// `host:port`, with an IPv6 host in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Where the config comes from: `--config FILE`, else `config.yaml` in the working directory
/// if it exists (as the original), else the defaults.
pub fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let default = PathBuf::from("config.yaml");
            default.is_file().then_some(default)
        }
    }
}

impl GatewayConfig {
    /// Reads `path` (if any), then applies the environment overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::parse(&text).map_err(|message| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message,
                })?
            }
            None => Self::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses YAML text (an empty document is the defaults).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    /// `ROCKETWIRE_GATEWAY_LISTEN_PORT`, `_LISTEN_ADDRESS`, `_METRICS_PORT`, `_NAMESERVERS` (`;`
    /// or `,` separated), `_PRODUCER_GROUP`, `_ACCESS_KEY`, `_SECRET_KEY`, `_NAMESPACE`,
    /// `_TLS_CA_FILE`.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("ROCKETWIRE_GATEWAY_LISTEN_PORT") {
            self.server.listen_port = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "ROCKETWIRE_GATEWAY_LISTEN_PORT".into(),
                value: v.clone(),
                reason: "not a port number".into(),
            })?;
        }
        if let Some(v) = get("ROCKETWIRE_GATEWAY_METRICS_PORT") {
            self.server.metrics_port = Some(v.trim().parse().map_err(|_| ConfigError::Env {
                name: "ROCKETWIRE_GATEWAY_METRICS_PORT".into(),
                value: v.clone(),
                reason: "not a port number".into(),
            })?);
        }
        if let Some(v) = get("ROCKETWIRE_GATEWAY_LISTEN_ADDRESS") {
            self.server.listen_address = v.trim().to_owned();
        }
        if let Some(v) = get("ROCKETWIRE_GATEWAY_NAMESERVERS") {
            self.rocketmq.nameservers = v
                .split([';', ','])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("ROCKETWIRE_GATEWAY_PRODUCER_GROUP") {
            self.rocketmq.producer.group_name = v;
        }
        if let Some(v) = get("ROCKETWIRE_GATEWAY_ACCESS_KEY") {
            self.rocketmq.access_key = Some(v);
        }
        if let Some(v) = get("ROCKETWIRE_GATEWAY_SECRET_KEY") {
            self.rocketmq.secret_key = Some(v);
        }
        if let Some(v) = get("ROCKETWIRE_GATEWAY_NAMESPACE") {
            self.rocketmq.namespace = Some(v);
        }
        if let Some(v) = get("ROCKETWIRE_GATEWAY_TLS_CA_FILE") {
            self.rocketmq.tls.ca_file = Some(PathBuf::from(v));
        }
        Ok(())
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.rocketmq.nameservers.is_empty() {
            return invalid("rocketmq.nameservers is empty".into());
        }
        for ns in &self.rocketmq.nameservers {
            let port = ns.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) {
                return invalid(format!("rocketmq.nameservers: `{ns}` is not host:port"));
            }
        }
        if self.rocketmq.producer.group_name.trim().is_empty() {
            return invalid("rocketmq.producer.group_name is empty".into());
        }
        if self.rocketmq.access_key.is_some() != self.rocketmq.secret_key.is_some() {
            return invalid("rocketmq.access_key and rocketmq.secret_key go together".into());
        }
        self.consume_from()?;
        let c = &self.rocketmq.consumer;
        if c.window == 0 || c.max_window == 0 || c.window > c.max_window {
            return invalid(format!(
                "rocketmq.consumer: window {} must be between 1 and max_window {}",
                c.window, c.max_window
            ));
        }
        if c.subscribe_window == 0 {
            return invalid("rocketmq.consumer.subscribe_window must be above 0".into());
        }
        if c.max_in_flight == 0 {
            return invalid("rocketmq.consumer.max_in_flight must be above 0".into());
        }
        Ok(())
    }

    /// `rocketmq.consumer.consume_from` as the core's setting.
    pub fn consume_from(&self) -> Result<ConsumeFromWhere, ConfigError> {
        match self.rocketmq.consumer.consume_from.trim() {
            "last" | "" => Ok(ConsumeFromWhere::LastOffset),
            "first" => Ok(ConsumeFromWhere::FirstOffset),
            other => Err(ConfigError::Invalid(format!(
                "rocketmq.consumer.consume_from: `{other}` is neither `last` nor `first`"
            ))),
        }
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> String {
        host_port(&self.server.listen_address, self.server.listen_port)
    }

    /// Where Prometheus metrics are served, if anywhere.
    pub fn metrics_addr(&self) -> Option<String> {
        let port = self.server.metrics_port?;
        Some(host_port(&self.server.listen_address, port))
    }

    /// The graceful shutdown budget.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.server.shutdown_timeout_ms)
    }

    /// The client config towards the cluster.
    pub fn client_config(&self) -> ClientConfig {
        let r = &self.rocketmq;
        let mut config = ClientConfig::new(r.nameservers.clone());
        if let (Some(ak), Some(sk)) = (&r.access_key, &r.secret_key) {
            config.credentials = Some(Credentials::new(ak.clone(), sk.clone()));
        }
        if let Some(ns) = &r.namespace {
            config.namespace = Namespace::new(ns.clone());
        }
        config.instance_name = r.instance_name.clone();
        config
    }

    /// The driver options towards the cluster (TLS).
    pub fn driver_options(&self) -> Result<DriverOptions, ConfigError> {
        let t = &self.rocketmq.tls;
        if !(t.enabled || t.ca_file.is_some() || t.insecure_skip_verify) {
            return Ok(DriverOptions::default());
        }
        let tls = if t.insecure_skip_verify {
            TlsConfig::dangerous_accept_any_certificate()
        } else if let Some(ca) = &t.ca_file {
            TlsConfig::with_ca_file(ca)
                .map_err(|e| ConfigError::Invalid(format!("rocketmq.tls.ca_file: {e}")))?
        } else {
            TlsConfig::system_roots()
                .map_err(|e| ConfigError::Invalid(format!("rocketmq.tls: {e} (give ca_file)")))?
        };
        let tls = match &t.server_name {
            Some(name) => tls
                .with_server_name(name)
                .map_err(|e| ConfigError::Invalid(format!("rocketmq.tls.server_name: {e}")))?,
            None => tls,
        };
        Ok(DriverOptions::default().with_tls(tls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn reads_the_original_config_as_is() {
        let text = r#"
server:
  listen_port: 50052
rocketmq:
  nameservers:
    - "10.0.0.1:9876"
    - "10.0.0.2:9876"
  producer:
    group_name: "gateway_producer_group"
    send_retry_times: 3
"#;
        let config = GatewayConfig::parse(text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.server.listen_port, 50052);
        assert_eq!(config.listen_addr(), "0.0.0.0:50052");
        assert_eq!(
            config.rocketmq.nameservers,
            vec!["10.0.0.1:9876".to_string(), "10.0.0.2:9876".to_string()]
        );
        assert_eq!(
            config.rocketmq.producer.group_name,
            "gateway_producer_group"
        );
        assert_eq!(config.rocketmq.producer.send_retry_times, 3);
        // Keys the original does not have keep their defaults.
        assert_eq!(config.rocketmq.consumer.window, 32);
        assert_eq!(config.rocketmq.consumer.subscribe_window, 512);
        assert_eq!(config.rocketmq.producer.send_timeout_ms, 3_000);
    }

    #[test]
    fn unknown_keys_of_other_versions_are_ignored() {
        let text = "server:\n  listen_port: 1\n  log_level: debug\nmetrics:\n  enabled: true\n";
        assert_eq!(GatewayConfig::parse(text).unwrap().server.listen_port, 1);
    }

    #[test]
    fn a_bad_value_names_the_key_and_line() {
        let err = GatewayConfig::parse("server:\n  listen_port: seventy\n").unwrap_err();
        assert!(err.contains("listen_port"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = GatewayConfig::parse("rocketmq:\n  nameservers: [\"x\"]\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("`x` is not host:port"), "{err}");
        let mut half = GatewayConfig::default();
        half.rocketmq.access_key = Some("ak".into());
        assert!(half.validate().is_err());
        let mut from = GatewayConfig::default();
        from.rocketmq.consumer.consume_from = "middle".into();
        assert!(from.validate().unwrap_err().to_string().contains("middle"));
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err =
            GatewayConfig::load(Some(Path::new("/nonexistent/gw.yaml")), &no_env).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/gw.yaml"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |name: &str| match name {
            "ROCKETWIRE_GATEWAY_LISTEN_PORT" => Some("6000".to_string()),
            "ROCKETWIRE_GATEWAY_NAMESERVERS" => Some("a:1; b:2".to_string()),
            "ROCKETWIRE_GATEWAY_PRODUCER_GROUP" => Some("pg".to_string()),
            _ => None,
        };
        let mut config = GatewayConfig::parse("server:\n  listen_port: 5\n").unwrap();
        config.apply_env(&env).unwrap();
        assert_eq!(config.server.listen_port, 6000);
        assert_eq!(config.metrics_addr(), None);
        assert_eq!(
            config.rocketmq.nameservers,
            vec!["a:1".to_string(), "b:2".to_string()]
        );
        assert_eq!(config.rocketmq.producer.group_name, "pg");
        let bad = |name: &str| (name == "ROCKETWIRE_GATEWAY_LISTEN_PORT").then(|| "x".to_string());
        let err = GatewayConfig::default().apply_env(&bad).unwrap_err();
        assert!(
            err.to_string().contains("ROCKETWIRE_GATEWAY_LISTEN_PORT=x"),
            "{err}"
        );
    }

    #[test]
    fn metrics_are_served_on_their_own_port_when_asked() {
        let config =
            GatewayConfig::parse("server:\n  listen_address: \"::1\"\n  metrics_port: 9464\n")
                .unwrap();
        assert_eq!(config.metrics_addr().as_deref(), Some("[::1]:9464"));
        assert_eq!(config.listen_addr(), "[::1]:50051");
    }

    #[test]
    fn credentials_and_namespace_reach_the_client_config() {
        let text = "rocketmq:\n  access_key: AK\n  secret_key: SK\n  namespace: tenant1\n";
        let config = GatewayConfig::parse(text).unwrap();
        config.validate().unwrap();
        let client = config.client_config();
        assert!(client.credentials.is_some());
        assert_eq!(client.namespace, Namespace::new("tenant1".to_string()));
    }
}
