//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default namesrv when neither `--namesrv` nor `NAMESRV_ADDR` is given.
pub const DEFAULT_NAMESRV: &str = "127.0.0.1:9876";

/// `rocketwire`: a RocketMQ command-line client.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "rocketwire", version, about)]
pub struct Cli {
    /// The runtime the client runs on.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio, global = true)]
    pub runtime: RuntimeKind,
    /// Namesrv address(es), `host:port[;host:port...]`.
    #[arg(long, env = "NAMESRV_ADDR", default_value = DEFAULT_NAMESRV, global = true)]
    pub namesrv: String,
    /// ACL access key: every request is signed (with `--secret-key`).
    #[arg(long, env = "ROCKETWIRE_ACCESS_KEY", global = true)]
    pub access_key: Option<String>,
    /// ACL secret key (with `--access-key`).
    #[arg(
        long,
        env = "ROCKETWIRE_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Namespace of every topic and group named here (Java 5.x `namespace`).
    #[arg(long, global = true)]
    pub namespace: Option<String>,
    /// Dial TO wherever a route names broker address FROM (NAT, port forwarding,
    /// containers); repeatable.
    #[arg(long = "broker-addr-map", value_name = "FROM=TO", global = true,
          value_parser = parse_addr_map)]
    pub broker_addr_map: Vec<(String, String)>,
    /// This client's IP as brokers see it (client id, message ids); default: detected from
    /// the host's interfaces.
    #[arg(long, value_name = "IP", global = true)]
    pub client_ip: Option<String>,
    /// Instance name (the client id is `IP@INSTANCE`); default: unique per process.
    #[arg(long, value_name = "NAME", global = true)]
    pub instance_name: Option<String>,
    /// TLS to the namesrv and brokers, verified against the system's root certificates
    /// (or `--ca-file`).
    #[arg(long, global = true)]
    pub tls: bool,
    /// TLS, trusting only the CA certificate(s) of this PEM file (implies `--tls`).
    #[arg(long, value_name = "FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
    /// The name servers' certificates must carry (DNS name or IP), instead of the host of
    /// each address dialed (implies `--tls`).
    #[arg(long, value_name = "NAME", global = true)]
    pub tls_server_name: Option<String>,
    /// INSECURE: TLS that accepts any server certificate (anyone on the path can pose as
    /// the cluster); for test clusters with throwaway certificates only. Implies `--tls`.
    #[arg(long, global = true, conflicts_with = "ca_file")]
    pub insecure_skip_tls_verify: bool,
    /// Log to stderr: -v info, -vv debug, -vvv trace (`RUST_LOG` takes precedence).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The runtimes an adapter exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// `rocketwire-tokio`.
    Tokio,
    /// `rocketwire-async-std`.
    AsyncStd,
    /// `rocketwire-smol`.
    Smol,
    /// `rocketwire-blocking` (std threads).
    Blocking,
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CliCommand {
    /// Send messages: each stdin line, or `--count` generated bodies.
    Produce(ProduceArgs),
    /// Print a topic's route.
    Route(RouteArgs),
    /// Consume messages with a push consumer and print them.
    Consume(ConsumeArgs),
    /// Create, list or describe topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Per-queue min and max offsets of a topic, and a group's committed offsets and lag.
    Offsets(OffsetsArgs),
    /// Find messages by key, or one by its message id.
    Query(QueryArgs),
    /// Send a request and print the reply (request/reply).
    Request(RequestArgs),
}

/// `rocketwire request`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RequestArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// The request's body (default: stdin).
    pub body: Option<String>,
    /// How long to wait for the reply, in ms.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Tag of the request.
    #[arg(long)]
    pub tag: Option<String>,
    /// Key of the request.
    #[arg(long)]
    pub key: Option<String>,
    /// Producer group.
    #[arg(long, default_value = "rocketwire_cli")]
    pub group: String,
    /// Print the reply as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rocketwire topic ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TopicCommand {
    /// Create a topic (or update its queues) on every broker master of the cluster.
    Create(TopicCreateArgs),
    /// List every topic the namesrv knows.
    List(JsonArgs),
    /// A topic's brokers and each queue's min and max offset.
    Describe(TopicArgs),
}

/// `rocketwire topic create`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TopicCreateArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Read and write queues per broker.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub queues: i32,
    /// An ordered topic.
    #[arg(long)]
    pub order: bool,
    /// Only the brokers of this cluster.
    #[arg(long)]
    pub cluster: Option<String>,
}

/// `--json` alone.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct JsonArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A topic and `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TopicArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rocketwire offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct OffsetsArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Also this consumer group's committed offset and lag per queue.
    #[arg(short, long)]
    pub group: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rocketwire query`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(group(clap::ArgGroup::new("by").required(true).args(["key", "id"])))]
pub struct QueryArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Messages with this key.
    #[arg(long)]
    pub key: Option<String>,
    /// The message with this id: its unique id (a send's msg id) or its offset message id.
    #[arg(long)]
    pub id: Option<String>,
    /// At most this many messages per broker (`--key`).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(i32).range(1..))]
    pub max: i32,
    /// Print one JSON object per message.
    #[arg(long)]
    pub json: bool,
}

/// Where a consumer group without stored offsets starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The first message still stored.
    First,
    /// Only messages sent from now on.
    Last,
    /// Messages stored at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// Parses `FROM=TO` of `--broker-addr-map`.
fn parse_addr_map(s: &str) -> Result<(String, String), String> {
    rocketwire_core::BrokerAddrMap::parse_entry(s)
}

/// Parses `first`, `last` or a timestamp in ms.
pub fn parse_start(s: &str) -> Result<StartFrom, String> {
    match s {
        "first" => Ok(StartFrom::First),
        "last" => Ok(StartFrom::Last),
        ms => ms
            .parse::<i64>()
            .ok()
            .filter(|t| *t >= 0)
            .map(StartFrom::Timestamp)
            .ok_or_else(|| format!("expected first, last or a timestamp in ms, got {s:?}")),
    }
}

/// `rocketwire consume`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ConsumeArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Consumer group.
    #[arg(short, long)]
    pub group: String,
    /// Tag expression (`*`, `TagA || TagB`), or with `--sql` a SQL92 expression over
    /// message properties (`a > 5 AND TAGS = 'x'`).
    #[arg(long, default_value = "*")]
    pub expression: String,
    /// `--expression` is SQL92 (the broker needs `enablePropertyFilter`).
    #[arg(long, requires = "expression")]
    pub sql: bool,
    /// Exit after this many messages.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Where a group without stored offsets starts: first, last or a timestamp in ms.
    #[arg(long, value_parser = parse_start, default_value = "last")]
    pub from: StartFrom,
    /// One message at a time per queue, in queue order.
    #[arg(long)]
    pub orderly: bool,
    /// Every consumer of the group gets every message (offsets kept in a local file).
    #[arg(long)]
    pub broadcast: bool,
    /// Consume by POP (RocketMQ 5.x): the broker hands out batches and keeps the group's
    /// position; a message not acknowledged within the invisible time is handed out again
    /// (to any consumer of the group). With `--orderly`, orderly POP.
    #[arg(long, conflicts_with_all = ["broadcast", "offset"])]
    pub pop: bool,
    /// POP: how long a popped message stays invisible to other consumers, in ms (it is
    /// extended while its line waits to be printed).
    #[arg(long, requires = "pop", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1000..))]
    pub invisible_time: u64,
    /// Print one JSON object per message.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Print each message as this template (kcat style): %t topic, %q queue id, %o queue
    /// offset, %k keys, %g tags, %s body, %S body size, %i message id, %I offset message
    /// id, %T store time (ms), %B born time (ms), %h properties (k=v,...), %r reconsume
    /// count, %% a %; \n and \t escapes.
    #[arg(long, value_parser = crate::format::Template::parse)]
    pub format: Option<crate::format::Template>,
    /// Print no message, only the summary.
    #[arg(long)]
    pub quiet: bool,
    /// Read from this position of every queue, kcat style, without committing anything:
    /// beginning, end, stored (the group's committed offsets), N (N < 0: that many before
    /// the end), s@MS (the first message stored at or after that time), e@MS (from the
    /// beginning, up to messages stored before that time).
    #[arg(long, value_parser = parse_offset, allow_hyphen_values = true,
          conflicts_with_all = ["orderly", "broadcast"])]
    pub offset: Option<OffsetSpec>,
    /// Stop at the end of the queues (their ends when the command started).
    #[arg(long, requires = "offset")]
    pub exit: bool,
    /// End with a summary on stderr: messages, bytes and their rates, consume latency
    /// (delivered to acknowledged) and end-to-end latency (born to printed), p50/p99/p999.
    #[arg(long)]
    pub metrics: bool,
}

/// Where `consume --offset` starts (or, `EndTime`, stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// Each queue's first offset.
    Beginning,
    /// Each queue's end: only new messages.
    End,
    /// The group's committed offsets.
    Stored,
    /// This offset (clamped to the queue); negative: that many before the end.
    At(i64),
    /// The first message stored at or after this time (ms).
    StartTime(i64),
    /// From the beginning up to messages stored before this time (ms).
    EndTime(i64),
}

/// Parses `consume --offset`.
pub fn parse_offset(s: &str) -> Result<OffsetSpec, String> {
    let ms = |v: &str| {
        v.parse::<i64>()
            .ok()
            .filter(|t| *t >= 0)
            .ok_or_else(|| format!("expected a time in ms after the @, got {s:?}"))
    };
    match s {
        "beginning" => Ok(OffsetSpec::Beginning),
        "end" => Ok(OffsetSpec::End),
        "stored" => Ok(OffsetSpec::Stored),
        _ => match (s.strip_prefix("s@"), s.strip_prefix("e@")) {
            (Some(t), _) => ms(t).map(OffsetSpec::StartTime),
            (_, Some(t)) => ms(t).map(OffsetSpec::EndTime),
            _ => s.parse::<i64>().map(OffsetSpec::At).map_err(|_| {
                format!("expected beginning, end, stored, an offset, s@MS or e@MS, got {s:?}")
            }),
        },
    }
}

/// `rocketwire produce`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ProduceArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Tag of every message.
    #[arg(long)]
    pub tag: Option<String>,
    /// Key of every message.
    #[arg(long)]
    pub key: Option<String>,
    /// A user property `k=v` (repeatable).
    #[arg(long = "property", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
    /// Delay level (1 = 1 s, 2 = 5 s, ...).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub delay_level: Option<i32>,
    /// Send batches of this many messages.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Most sends in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub inflight: u32,
    /// Let the producer gather concurrent single sends (up to `--inflight`) into batch
    /// requests, each message still with its own result (Java 5.x `autoBatch`).
    #[arg(long, conflicts_with = "batch")]
    pub auto_batch: bool,
    /// Read stdin as JSON lines: one object per message, `{"body": "..."}` with optional
    /// `"topic"`, `"key"` or `"keys": [...]`, `"tags"`, `"properties": {"k": "v"}` and
    /// `"delayLevel"` (the flags above are the defaults of every line).
    #[arg(long, conflicts_with = "count")]
    pub json_lines: bool,
    /// Send this many generated messages instead of reading stdin.
    #[arg(long, requires = "size")]
    pub count: Option<u64>,
    /// Body size of generated messages, in bytes.
    #[arg(long, requires = "count", value_parser = clap::value_parser!(u32).range(1..))]
    pub size: Option<u32>,
    /// Time budget of each send, retries and waits for a restarting broker included, in ms
    /// (a longer one rides out a longer broker outage).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    pub send_timeout: u64,
    /// Producer group.
    #[arg(long, default_value = "rocketwire_cli")]
    pub group: String,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Add to the summary: bytes stored and their rate, send latency p50/p99/p999/max.
    #[arg(long)]
    pub metrics: bool,
}

/// `rocketwire route`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RouteArgs {
    /// Topic.
    #[arg(short, long)]
    pub topic: String,
    /// Print the route as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses `k=v`.
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}
