//! Feeds: every replica sees each new event of a subject (caches to drop, watchers to tell),
//! unlike a durable consumer, whose messages are shared out among replicas. An ordered
//! consumer per replica, starting at new messages; it resumes where it was after a reconnect.

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
            loop {
                let messages = async {
                    let stream = broker.jetstream().get_stream(stream).await?;
                    let consumer = stream
                        .create_consumer(OrderedConfig {
                            filter_subject: E::SUBJECT.to_string(),
                            deliver_policy: DeliverPolicy::New,
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
