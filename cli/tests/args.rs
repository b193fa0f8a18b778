//! Argument parsing of `rocketwire`.

use clap::Parser;
use rocketwire_cli::args::{Cli, CliCommand, RuntimeKind, DEFAULT_NAMESRV};

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("rocketwire").chain(args.iter().copied()))
}

#[test]
fn produce_with_every_option() {
    let cli = parse(&[
        "--runtime",
        "smol",
        "--namesrv",
        "10.0.0.1:9876;10.0.0.2:9876",
        "produce",
        "-t",
        "T",
        "--tag",
        "TagA",
        "--key",
        "k1",
        "--property",
        "a=1",
        "--property",
        "b=x=y",
        "--delay-level",
        "3",
        "--batch",
        "8",
        "--inflight",
        "16",
        "--count",
        "100",
        "--size",
        "512",
        "--send-timeout",
        "30000",
        "--json",
    ])
    .expect("parses");
    assert_eq!(cli.runtime, RuntimeKind::Smol);
    assert_eq!(cli.namesrv, "10.0.0.1:9876;10.0.0.2:9876");
    let CliCommand::Produce(p) = cli.command else {
        panic!("produce expected")
    };
    assert_eq!(p.topic, "T");
    assert_eq!(p.tag.as_deref(), Some("TagA"));
    assert_eq!(p.key.as_deref(), Some("k1"));
    assert_eq!(
        p.properties,
        vec![("a".into(), "1".into()), ("b".into(), "x=y".into())]
    );
    assert_eq!(p.delay_level, Some(3));
    assert_eq!((p.batch, p.inflight), (8, 16));
    assert_eq!((p.count, p.size), (Some(100), Some(512)));
    assert_eq!(p.send_timeout, 30_000);
    assert!(p.json);
    let config = rocketwire_cli::client_config(&cli.namesrv).expect("config");
    assert_eq!(config.namesrv_addrs, ["10.0.0.1:9876", "10.0.0.2:9876"]);
}

#[test]
fn defaults_and_global_options_after_the_subcommand() {
    // NAMESRV_ADDR may be set in the environment of the test run; only check it when unset.
    let cli = parse(&["route", "-t", "T", "--runtime", "blocking"]).expect("parses");
    assert_eq!(cli.runtime, RuntimeKind::Blocking);
    if std::env::var_os("NAMESRV_ADDR").is_none() {
        assert_eq!(cli.namesrv, DEFAULT_NAMESRV);
    }
    let CliCommand::Route(r) = cli.command else {
        panic!("route expected")
    };
    assert_eq!(r.topic, "T");
    assert!(!r.json);

    let cli = parse(&["produce", "--topic", "T"]).expect("parses");
    assert_eq!(cli.runtime, RuntimeKind::Tokio);
    let CliCommand::Produce(p) = cli.command else {
        panic!("produce expected")
    };
    assert_eq!((p.batch, p.inflight, p.count), (1, 64, None));
    assert_eq!(p.send_timeout, 3_000, "Java's sendMsgTimeout");
    assert!(p.properties.is_empty());
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["produce"][..],                                 // no topic
        &["produce", "-t", "T", "--property", "novalue"], // not k=v
        &["produce", "-t", "T", "--property", "=v"],      // empty key
        &["produce", "-t", "T", "--count", "5"],          // --count needs --size
        &["produce", "-t", "T", "--batch", "0"],          // batch >= 1
        &["produce", "-t", "T", "--delay-level", "0"],    // level >= 1
        &["produce", "-t", "T", "--send-timeout", "0"],   // a budget
        &["--runtime", "glommio", "route", "-t", "T"],    // unknown runtime
        &["route"],                                       // no topic
        &["consume", "-t", "T"],                          // unknown command
    ] {
        assert!(parse(args).is_err(), "{args:?} must be refused");
    }
}

#[test]
fn production_access_options_shape_the_client_config() {
    let cli = parse(&[
        "route",
        "-t",
        "T",
        "--access-key",
        "ak",
        "--secret-key",
        "sk",
        "--namespace",
        "tenant1",
        "--broker-addr-map",
        "10.0.0.5:10911=127.0.0.1:30911",
        "--broker-addr-map",
        "10.0.0.6:10911=127.0.0.1:30921",
        "--client-ip",
        "203.0.113.7",
        "--instance-name",
        "billing-1",
    ])
    .expect("parses");
    assert!(!cli.tls, "TLS is off unless asked for");
    assert_eq!(
        rocketwire_cli::cli_driver_options(&cli)
            .expect("options")
            .tls,
        None
    );
    let config = rocketwire_cli::cli_config(&cli).expect("config");
    assert_eq!(
        config.credentials.as_ref().map(|c| c.access_key()),
        Some("ak")
    );
    assert_eq!(config.namespace.name(), "tenant1");
    assert_eq!(
        config.broker_addr_map.apply("10.0.0.6:10911"),
        "127.0.0.1:30921"
    );
    assert_eq!(config.client_ip, "203.0.113.7");
    assert_eq!(config.instance_name.as_deref(), Some("billing-1"));
    assert!(parse(&["route", "-t", "T", "--broker-addr-map", "nope"]).is_err());
    // TLS flags: insecure mode is TLS without verification; a server name implies TLS.
    let insecure = parse(&["route", "-t", "T", "--insecure-skip-tls-verify"]).expect("parses");
    let options = rocketwire_cli::cli_driver_options(&insecure).expect("options");
    assert!(options.tls.as_ref().is_some_and(|t| !t.verifies()));
    let named = parse(&[
        "route",
        "-t",
        "T",
        "--insecure-skip-tls-verify",
        "--tls-server-name",
        "mq.example.com",
    ])
    .expect("parses");
    assert!(rocketwire_cli::cli_driver_options(&named)
        .expect("options")
        .tls
        .is_some());
    let bad_name = parse(&[
        "route",
        "-t",
        "T",
        "--insecure-skip-tls-verify",
        "--tls-server-name",
        "not a name",
    ])
    .expect("parses");
    assert!(rocketwire_cli::cli_driver_options(&bad_name).is_err());
    // A key without its secret is refused (unless the environment supplies it).
    if std::env::var_os("ROCKETWIRE_SECRET_KEY").is_none() {
        let half = parse(&["route", "-t", "T", "--access-key", "ak"]).expect("parses");
        assert!(rocketwire_cli::cli_config(&half).is_err());
    }
}

#[test]
fn consume_offsets_kcat_style() {
    use rocketwire_cli::args::OffsetSpec;
    let offset = |spec: &str| {
        let cli = parse(&["consume", "-t", "T", "-g", "G", "--offset", spec, "--exit"])
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
        let CliCommand::Consume(args) = cli.command else {
            panic!("consume");
        };
        assert!(args.exit);
        args.offset
    };
    assert_eq!(offset("beginning"), Some(OffsetSpec::Beginning));
    assert_eq!(offset("end"), Some(OffsetSpec::End));
    assert_eq!(offset("stored"), Some(OffsetSpec::Stored));
    assert_eq!(offset("42"), Some(OffsetSpec::At(42)));
    assert_eq!(offset("-10"), Some(OffsetSpec::At(-10)));
    assert_eq!(
        offset("s@1700000000000"),
        Some(OffsetSpec::StartTime(1_700_000_000_000))
    );
    assert_eq!(offset("e@5"), Some(OffsetSpec::EndTime(5)));
    for bad in ["s@", "e@-1", "middle"] {
        assert!(
            parse(&["consume", "-t", "T", "-g", "G", "--offset", bad]).is_err(),
            "{bad}"
        );
    }
    assert!(
        parse(&["consume", "-t", "T", "-g", "G", "--exit"]).is_err(),
        "--exit needs --offset"
    );
}

#[test]
fn consume_sql_reads_the_expression_as_sql92() {
    let cli = parse(&[
        "consume",
        "-t",
        "T",
        "-g",
        "G",
        "--sql",
        "--expression",
        "a > 5 AND TAGS = 'x'",
    ])
    .expect("parses");
    let CliCommand::Consume(args) = cli.command else {
        panic!("consume");
    };
    assert!(args.sql);
    assert_eq!(args.expression, "a > 5 AND TAGS = 'x'");
    let tags = parse(&["consume", "-t", "T", "-g", "G", "--expression", "A || B"]).expect("parses");
    let CliCommand::Consume(args) = tags.command else {
        panic!("consume");
    };
    assert!(!args.sql, "tags by default");
    assert!(
        parse(&["consume", "-t", "T", "-g", "G", "--sql"]).is_err(),
        "--sql without an expression"
    );
}
