//! A minimal `tracing` subscriber for unit tests: it records every span opened (name and
//! fields, also those recorded later), so a test can assert what a subscriber sees.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

/// A subscriber that records nothing and wants every callsite asked about each time.
struct ConsultAlways;

impl Subscriber for ConsultAlways {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

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
    ///
    /// `tracing` caches per callsite whether any subscriber wants it. A callsite first hit by
    /// another test thread while no recorder was alive would be cached as wanted by nobody,
    /// and a recorder created around then could miss its spans (a race between parallel
    /// tests). A subscriber that is always alive and asks to be consulted every time keeps
    /// every callsite from being cached as unwanted; the cache is rebuilt once the recorder
    /// is in place for callsites registered meanwhile.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        static CONSULT_ALWAYS: OnceLock<Dispatch> = OnceLock::new();
        CONSULT_ALWAYS.get_or_init(|| Dispatch::new(ConsultAlways));
        tracing::subscriber::with_default(self.clone(), || {
            tracing::callsite::rebuild_interest_cache();
            f()
        })
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
