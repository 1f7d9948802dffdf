//! The default sink: a log line per message (its id, recipient domain and subject; never the
//! body, which holds addresses and amounts). For development, where nothing should be mailed.

use async_trait::async_trait;

use super::{Outgoing, Sink, SinkError};

#[derive(Debug, Default)]
pub struct LogSink;

#[async_trait]
impl Sink for LogSink {
    async fn deliver(&self, outgoing: &Outgoing) -> Result<(), SinkError> {
        let headers = outgoing.message.headers();
        let subject = headers.get_raw("Subject").unwrap_or_default();
        let domains: Vec<&str> = outgoing.message.envelope().to().iter().map(|a| a.domain()).collect();
        tracing::info!(notification_id = outgoing.id, to_domains = ?domains, subject, "notification (log sink)");
        Ok(())
    }
}
