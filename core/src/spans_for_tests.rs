//! A minimal `tracing` subscriber for unit tests: it records every span opened (name and
//! fields, also those recorded later), so a test can assert what a subscriber sees.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One span as recorded: its name, its parent's name and its fields in text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenSpan {
    pub(crate) name: &'static str,
    pub(crate) parent: Option<&'static str>,
    pub(crate) fields: BTreeMap<&'static str, String>,
}

/// Records spans; clone it to read them after the subscriber was moved in.
#[derive(Clone, Default)]
pub(crate) struct SpanRecorder {
    spans: Arc<Mutex<Vec<SeenSpan>>>,
    stack: Arc<Mutex<Vec<u64>>>,
}

struct Fields<'a>(&'a mut BTreeMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
}

impl SpanRecorder {
    /// Runs `f` with this recorder as the thread's subscriber.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::subscriber::with_default(self.clone(), f)
    }

    /// Every span named `name`, in creation order.
    pub(crate) fn named(&self, name: &str) -> Vec<SeenSpan> {
        let spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        spans.iter().filter(|s| s.name == name).cloned().collect()
    }

    fn with_span(&self, id: &Id, f: impl FnOnce(&mut SeenSpan)) {
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        let index = usize::try_from(id.into_u64() - 1).unwrap_or(usize::MAX);
        if let Some(span) = spans.get_mut(index) {
            f(span);
        }
    }
}

impl Subscriber for SpanRecorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent_id = match attrs.parent() {
            Some(id) => Some(id.into_u64()),
            None if attrs.is_contextual() => self
                .stack
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last()
                .copied(),
            None => None,
        };
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        let parent = parent_id
            .and_then(|p| spans.get(usize::try_from(p - 1).ok()?))
            .map(|s| s.name);
        spans.push(SeenSpan {
            name: attrs.metadata().name(),
            parent,
            fields,
        });
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        self.with_span(id, |s| values.record(&mut Fields(&mut s.fields)));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, id: &Id) {
        let mut stack = self.stack.lock().unwrap_or_else(|e| e.into_inner());
        stack.push(id.into_u64());
    }

    fn exit(&self, id: &Id) {
        let mut stack = self.stack.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = stack.iter().rposition(|s| *s == id.into_u64()) {
            stack.remove(at);
        }
    }
}
