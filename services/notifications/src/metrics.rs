//! notifications' business counter (docs/observability.md, "Business"): messages a sink
//! accepted, counted when the consumer's transaction that records them has committed
//! (`Delivery::on_commit`). A message the sink took in a batch that was then rolled back is
//! sent again under the same id when the batch is handled one by one (see [`crate::sink`]),
//! and counted once, with the commit that records it.

use prometheus::{IntCounterVec, Opts, Registry};

/// How a notification reached its customer. E-mail is the only one yet; the label is there
/// so that another channel is a new series, not a new metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
}

impl Channel {
    pub const ALL: [Self; 1] = [Self::Email];

    /// The label value (Prometheus' convention: lower case).
    fn label(self) -> &'static str {
        match self {
            Self::Email => "email",
        }
    }
}

/// The handles of notifications' business metrics, registered once per server.
#[derive(Debug, Clone)]
pub struct NotificationMetrics {
    sent: IntCounterVec,
}

impl NotificationMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let sent = IntCounterVec::new(
            Opts::new("mercato_notifications_sent_total", "Notifications a sink accepted, recorded as sent."),
            &["channel"],
        )?;
        registry.register(Box::new(sent.clone()))?;
        // Exported from the start, at 0: a rate over a series that appears only with its
        // first message misses that message.
        for channel in Channel::ALL {
            sent.with_label_values(&[channel.label()]);
        }
        Ok(Self { sent })
    }

    pub fn sent(&self, channel: Channel) {
        self.sent.with_label_values(&[channel.label()]).inc();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mercato_kit::metrics::Metrics;

    use super::*;

    #[test]
    fn sent_messages_are_counted_by_channel_from_zero() {
        let server = Metrics::new("notifications", "test");
        let notifications = NotificationMetrics::register(server.registry()).unwrap();
        assert!(server.encode().contains(r#"mercato_notifications_sent_total{channel="email"} 0"#));
        notifications.sent(Channel::Email);
        let text = server.encode();
        assert!(text.contains(r#"mercato_notifications_sent_total{channel="email"} 1"#), "{text}");
    }
}
