//! `rocketwire request`: one request, its reply on stdout.

use std::io::Read as _;
use std::time::Duration;

use rocketwire_core::message::Message;
use rocketwire_core::producer::ProducerConfig;

use crate::args::RequestArgs;
use crate::backend::Backend;
use crate::consume::{message_json, message_line};
use crate::CliError;

/// Sends the request and prints its reply.
pub fn run<B: Backend>(client: &mut B, args: &RequestArgs) -> Result<(), CliError> {
    let body = match &args.body {
        Some(body) => body.clone().into_bytes(),
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|e| CliError(format!("cannot read the request from stdin: {e}")))?;
            body
        }
    };
    let mut message = Message::new(args.topic.clone(), body);
    if let Some(tag) = &args.tag {
        message
            .set_tags(tag.clone())
            .map_err(|e| CliError(format!("--tag: {e}")))?;
    }
    if let Some(key) = &args.key {
        message
            .set_keys([key.as_str()])
            .map_err(|e| CliError(format!("--key: {e}")))?;
    }
    let config = ProducerConfig::builder(args.group.clone())
        .build()
        .map_err(|e| CliError(format!("--group: {e}")))?;
    client.create_producer(config)?;
    let reply = client
        .request(message, Duration::from_millis(args.timeout))
        .map_err(|e| CliError(format!("request to {}: {e}", args.topic)))?;
    if args.json {
        println!("{}", message_json(&reply));
    } else {
        println!("{}", message_line(&reply));
    }
    Ok(())
}
