//! The headers every event carries, and those a dead letter adds.

/// JetStream's de-duplication key: the event id on first publication.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// The event id (a UUIDv7), kept apart from `Nats-Msg-Id` so a replay can be published anew
/// while consumers still recognise the event.
pub const EVENT_ID: &str = "Mercato-Event-Id";
/// The fully qualified protobuf type, version included: `mercato.catalog.v1.StockLevelChanged`.
pub const EVENT_TYPE: &str = "Mercato-Event-Type";
/// The service that produced it, and its version.
pub const PRODUCER: &str = "Mercato-Producer";
pub const PRODUCER_VERSION: &str = "Mercato-Producer-Version";
/// When the change happened (RFC 3339, UTC).
pub const OCCURRED_AT: &str = "Mercato-Occurred-At";
/// The correlation id of the request that caused it.
pub const REQUEST_ID: &str = "X-Request-Id";
/// W3C trace context of the request that caused it, when it carried one.
pub const TRACEPARENT: &str = "traceparent";
/// Set on a replayed dead letter: only this consumer processes it; the others ack it unseen.
pub const REPLAY_FOR: &str = "Mercato-Replay-For";

/// Dead letters: which consumer gave up, why, after how many attempts, and when; where the
/// original came from.
pub const DLQ_CONSUMER: &str = "Mercato-Dlq-Consumer";
pub const DLQ_ERROR: &str = "Mercato-Dlq-Error";
pub const DLQ_ATTEMPTS: &str = "Mercato-Dlq-Attempts";
pub const DLQ_FAILED_AT: &str = "Mercato-Dlq-Failed-At";
pub const DLQ_SUBJECT: &str = "Mercato-Dlq-Subject";
pub const DLQ_STREAM: &str = "Mercato-Dlq-Stream";
pub const DLQ_STREAM_SEQUENCE: &str = "Mercato-Dlq-Stream-Sequence";
