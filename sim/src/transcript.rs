//! Transcripts: one line per core output (and per connection event, server frame and network
//! fault), stamped with virtual time, for snapshot tests.
//!
//! ```text
//! t=+0ms c1 Connect conn#1 127.0.0.1:9876
//! t=+1ms c1 <- Connected conn#1
//! t=+1ms c1 Transmit conn#1 GET_ROUTEINFO_BY_TOPIC opaque=1
//! t=+2ms ns1 -> c1 conn#1 response SUCCESS opaque=1
//! t=+3ms c1 Event Route op#1 ok brokers=[broker-a]
//! ```

use std::time::Duration;

use rocketwire_core::{Event, Output, RequestCode, ResponseCode};

use crate::server::{decode_raw, split_frame};

/// The lines of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    lines: Vec<String>,
}

impl Transcript {
    /// Appends `t=+<at> <actor> <text>`.
    pub fn push(&mut self, at: Duration, actor: &str, text: &str) {
        self.lines
            .push(format!("t=+{} {actor} {text}", format_time(at)));
    }

    /// Every line.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The lines joined with newlines (with a trailing newline when not empty).
    pub fn render(&self) -> String {
        let mut out = self.lines.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// `12ms`, or `12.345ms` when there are sub-millisecond parts.
pub fn format_time(at: Duration) -> String {
    let micros = at.as_micros();
    if micros % 1000 == 0 {
        format!("{}ms", micros / 1000)
    } else {
        format!("{}.{:03}ms", micros / 1000, micros % 1000)
    }
}

/// Names the frames in `bytes`: `GET_ROUTEINFO_BY_TOPIC opaque=1`, `response SUCCESS opaque=1`,
/// `NOTIFY_CONSUMER_IDS_CHANGED opaque=3 oneway`; `<malformed N bytes>` when not a frame.
pub fn describe_frames(bytes: &[u8]) -> String {
    let mut buf = bytes::BytesMut::from(bytes);
    let mut parts = Vec::new();
    while let Some(raw) = split_frame(&mut buf) {
        parts.push(match decode_raw(&raw) {
            Some((cmd, _)) if cmd.is_response() => {
                format!(
                    "response {} opaque={}",
                    ResponseCode::from_code(cmd.code),
                    cmd.opaque
                )
            }
            Some((cmd, _)) => {
                let oneway = if cmd.is_oneway() { " oneway" } else { "" };
                format!(
                    "{} opaque={}{oneway}",
                    RequestCode::from_code(cmd.code),
                    cmd.opaque
                )
            }
            None => format!("<malformed {} bytes>", raw.len()),
        });
    }
    if !buf.is_empty() {
        parts.push(format!("<partial {} bytes>", buf.len()));
    }
    parts.join(" + ")
}

/// One line for an output; `None` for `Timeout`/`Idle` (the world logs timer changes itself).
pub fn describe_output(output: &Output) -> Option<String> {
    if let Output::Connect { conn, addr } = output {
        return Some(format!("Connect conn#{} {addr}", conn.0));
    }
    if let Output::Transmit { conn, head, body } = output {
        let mut frame = head.to_vec();
        frame.extend_from_slice(body);
        return Some(format!(
            "Transmit conn#{} {}",
            conn.0,
            describe_frames(&frame)
        ));
    }
    if let Output::Close { conn } = output {
        return Some(format!("Close conn#{}", conn.0));
    }
    if let Output::Event(event) = output {
        return Some(format!("Event {}", describe_event(event)));
    }
    None
}

/// One line for an event.
pub fn describe_event(event: &Event) -> String {
    if let Event::Response { op, result } = event {
        return match result {
            Ok(cmd) => format!(
                "Response op#{} ok {}",
                op.0,
                ResponseCode::from_code(cmd.code)
            ),
            Err(e) => format!("Response op#{} err {e:?}", op.0),
        };
    }
    if let Event::Route { op, topic, result } = event {
        return match result {
            Ok(route) => {
                let mut names: Vec<&str> = route
                    .broker_datas
                    .iter()
                    .map(|b| b.broker_name.as_str())
                    .collect();
                names.sort_unstable();
                format!("Route op#{} {topic} ok brokers=[{}]", op.0, names.join(","))
            }
            Err(e) => format!("Route op#{} {topic} err {e:?}", op.0),
        };
    }
    if let Event::Request(request) = event {
        let cmd = &request.command;
        let oneway = if request.token.is_none() {
            " oneway"
        } else {
            ""
        };
        return format!(
            "Request {} from {} opaque={}{oneway}",
            RequestCode::from_code(cmd.code),
            request.addr,
            cmd.opaque
        );
    }
    if let Event::PeerError { addr, error } = event {
        return format!("PeerError {addr} {error:?}");
    }
    if let Event::Send { op, result } = event {
        return match result {
            Ok(r) => format!(
                "Send op#{} ok {:?} {} q={} offset={} ids={}",
                op.0,
                r.status,
                r.message_queue.broker_name,
                r.message_queue.queue_id,
                r.queue_offset,
                r.msg_id.split(',').count()
            ),
            Err(e) => format!("Send op#{} err {e:?}", op.0),
        };
    }
    if let Event::OnewaySent { op, result } = event {
        return match result {
            Ok(()) => format!("OnewaySent op#{} ok", op.0),
            Err(e) => format!("OnewaySent op#{} err {e:?}", op.0),
        };
    }
    if let Event::Deliver {
        consumer,
        delivery,
        queue,
        messages,
    } = event
    {
        let offsets: Vec<String> = messages
            .iter()
            .map(|m| m.queue_offset.to_string())
            .collect();
        return format!(
            "Deliver consumer#{} delivery#{} {}/{}/{} offsets=[{}]",
            consumer.0,
            delivery.0,
            queue.broker_name,
            queue.topic,
            queue.queue_id,
            offsets.join(",")
        );
    }
    if let Event::QueuesChanged {
        consumer,
        topic,
        queues,
    } = event
    {
        let queues: Vec<String> = queues
            .iter()
            .map(|q| format!("{}/{}", q.broker_name, q.queue_id))
            .collect();
        return format!(
            "QueuesChanged consumer#{} {topic} [{}]",
            consumer.0,
            queues.join(",")
        );
    }
    if let Event::PersistLocalOffsets { consumer, content } = event {
        return format!(
            "PersistLocalOffsets consumer#{} {} bytes",
            consumer.0,
            content.len()
        );
    }
    if let Event::ConsumerClosed {
        op,
        consumer,
        report,
    } = event
    {
        let persisted: Vec<String> = report
            .persisted
            .iter()
            .map(|(q, o)| format!("{}/{}/{}={o}", q.broker_name, q.topic, q.queue_id))
            .collect();
        return format!(
            "ConsumerClosed op#{} consumer#{} persisted=[{}] abandoned={}",
            op.0,
            consumer.0,
            persisted.join(","),
            report.abandoned_deliveries
        );
    }
    if let Event::ProducerClosed { op, producer } = event {
        return format!("ProducerClosed op#{} producer#{}", op.0, producer.0);
    }
    format!("{event:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketwire_core::codec::encode_to_vec;
    use rocketwire_core::{RemotingCommand, SerializeType};

    #[test]
    fn frames_and_times_are_named() {
        let mut req = RemotingCommand::request(RequestCode::GetRouteInfoByTopic);
        req.opaque = 7;
        let resp = RemotingCommand::response_to(&req, ResponseCode::TopicNotExist);
        let mut bytes = encode_to_vec(&req, SerializeType::RocketMq).unwrap();
        bytes.extend(encode_to_vec(&resp, SerializeType::Json).unwrap());
        assert_eq!(
            describe_frames(&bytes),
            "GET_ROUTEINFO_BY_TOPIC opaque=7 + response TOPIC_NOT_EXIST opaque=7"
        );
        assert_eq!(format_time(Duration::from_micros(12_345)), "12.345ms");
        assert_eq!(format_time(Duration::from_millis(3)), "3ms");
        let mut t = Transcript::default();
        t.push(Duration::from_millis(1), "c1", "Close conn#1");
        assert_eq!(t.render(), "t=+1ms c1 Close conn#1\n");
    }
}
