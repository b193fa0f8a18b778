//! `consume --format`: kcat-style templates for printing messages.

use std::fmt::Write as _;

use rocketwire_core::message::MessageExt;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(char),
}

/// A parsed `--format` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

const FIELDS: &str = "tqokgsSiITBhr";

impl Template {
    /// Parses a template; an unknown `%x` is an error naming it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => match chars.next() {
                    Some('%') => text.push('%'),
                    Some(f) if FIELDS.contains(f) => {
                        if !text.is_empty() {
                            pieces.push(Piece::Text(std::mem::take(&mut text)));
                        }
                        pieces.push(Piece::Field(f));
                    }
                    Some(f) => return Err(format!("unknown format token %{f}")),
                    None => return Err("a lone % at the end of the format".into()),
                },
                '\\' => match chars.next() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('\\') => text.push('\\'),
                    Some(other) => {
                        text.push('\\');
                        text.push(other);
                    }
                    None => text.push('\\'),
                },
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template(pieces))
    }

    /// `m` printed with this template (the command ends each message with a newline).
    pub fn render(&self, m: &MessageExt) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => {
                    let _ = match f {
                        't' => write!(out, "{}", m.topic()),
                        'q' => write!(out, "{}", m.queue_id),
                        'o' => write!(out, "{}", m.queue_offset),
                        'k' => write!(out, "{}", m.message.keys().unwrap_or_default()),
                        'g' => write!(out, "{}", m.message.tags().unwrap_or_default()),
                        's' => write!(out, "{}", String::from_utf8_lossy(m.body())),
                        'S' => write!(out, "{}", m.body().len()),
                        'i' => write!(out, "{}", m.msg_id()),
                        'I' => write!(out, "{}", m.offset_msg_id),
                        'T' => write!(out, "{}", m.store_timestamp),
                        'B' => write!(out, "{}", m.born_timestamp),
                        'h' => {
                            let props: Vec<String> = m
                                .message
                                .properties()
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect();
                            write!(out, "{}", props.join(","))
                        }
                        'r' => write!(out, "{}", m.reconsume_times),
                        _ => Ok(()),
                    };
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rocketwire_core::message::Message;

    use super::*;

    #[test]
    fn tokens_escapes_and_errors() {
        let mut msg = Message::new("T", "hello");
        msg.set_tags("A").unwrap();
        msg.set_keys(["k1"]).unwrap();
        let mut m = MessageExt::from_message(msg);
        m.queue_id = 3;
        m.queue_offset = 42;
        m.store_timestamp = 7;
        let t = Template::parse("%t/%q@%o %k %g %s (%S) %T 100%%\\t|").unwrap();
        assert_eq!(t.render(&m), "T/3@42 k1 A hello (5) 7 100%\t|");
        assert_eq!(
            Template::parse("%x"),
            Err("unknown format token %x".to_string())
        );
        assert!(Template::parse("50%").is_err());
        assert_eq!(Template::parse("a\\nb").unwrap().render(&m), "a\nb");
    }
}
