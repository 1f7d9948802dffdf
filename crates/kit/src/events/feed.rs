//! Feeds: every replica sees each new event of a subject (caches to drop, watchers to tell),
//! unlike a durable consumer, whose messages are shared out among replicas. An ordered
//! consumer per replica. It starts at the moment the worker started, not at whatever is new
//! when it first gets through: the stream may not exist yet (its owner creates it at its own
//! start) or NATS may be away, and an event published meanwhile would otherwise never reach
//! this replica (a watch would wait forever for the change that ended it). Once it has seen
//! messages, a new consumer resumes right after the last one.

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::{StreamExt, future::BoxFuture};

use super::{Broker, Event, headers, retry::Failures};
use crate::shutdown::Shutdown;

/// The worker that calls `on_event` for each new `E` in `stream`, on this replica.
pub fn follow<E, F>(
    broker: Broker,
    stream: &'static str,
    on_event: F,
) -> impl FnOnce(Shutdown) -> BoxFuture<'static, anyhow::Result<()>> + Send + 'static
where
    E: Event,
    F: Fn(E) + Send + Sync + 'static,
{
    move |stop| {
        Box::pin(async move {
            let mut failures = Failures::default();
            let started =
                async_nats::datetime::from_nanos(chrono::Utc::now().timestamp_nanos_opt().map_or(0, i128::from));
            let mut resume_at: Option<u64> = None;
            loop {
                let deliver_policy = match (resume_at, &started) {
                    (Some(start_sequence), _) => DeliverPolicy::ByStartSequence { start_sequence },
                    (None, Ok(start_time)) => DeliverPolicy::ByStartTime { start_time: *start_time },
                    (None, Err(_)) => DeliverPolicy::New,
                };
                let messages = async {
                    let stream = broker.jetstream().get_stream(stream).await?;
                    let consumer = stream
                        .create_consumer(OrderedConfig {
                            filter_subject: E::SUBJECT.to_string(),
                            deliver_policy,
                            ..Default::default()
                        })
                        .await?;
                    anyhow::Ok(consumer.messages().await?)
                };
                let mut messages = tokio::select! {
                    () = stop.wait() => return Ok(()),
                    messages = messages => match messages {
                        Ok(messages) => {
                            failures.reset();
                            tracing::info!(stream, subject = E::SUBJECT, "following the feed");
                            messages
                        }
                        Err(e) => {
                            if failures.record() {
                                tracing::warn!(stream, subject = E::SUBJECT, error = format!("{e:#}"), "feed cannot start yet; retrying");
                            }
                            tokio::select! {
                                () = stop.wait() => return Ok(()),
                                () = tokio::time::sleep(failures.linear_wait()) => continue,
                            }
                        }
                    },
                };
                loop {
                    let next = tokio::select! {
                        () = stop.wait() => return Ok(()),
                        next = messages.next() => next,
                    };
                    match next {
                        Some(Ok(message)) => {
                            if let Ok(info) = message.info() {
                                resume_at = Some(info.stream_sequence + 1);
                            }
                            let typed = message
                                .headers
                                .as_ref()
                                .and_then(|h| h.get(headers::EVENT_TYPE))
                                .map(|v| v.as_str().to_string());
                            if typed.as_deref() != Some(E::TYPE) {
                                continue;
                            }
                            match E::decode(message.payload.clone()) {
                                Ok(event) => on_event(event),
                                Err(e) => tracing::warn!(subject = E::SUBJECT, error = %e, "undecodable event in feed"),
                            }
                        }
                        Some(Err(e)) => {
                            tracing::debug!(subject = E::SUBJECT, error = %e, "feed interrupted; resuming");
                        }
                        None => break,
                    }
                }
            }
        })
    }
}
