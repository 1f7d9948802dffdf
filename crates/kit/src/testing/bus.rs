//! The broker as a test sees it: publish an event or command as a service's relay would
//! (the same headers), and read what a service published, by contract type.

use std::time::Duration;

use async_nats::{HeaderMap, jetstream};

use super::eventually;
use crate::events::{Event, headers};

/// A JetStream connection of the test's own.
#[derive(Clone, Debug)]
pub struct Bus {
    jetstream: jetstream::Context,
}

impl Bus {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = async_nats::connect(url).await?;
        Ok(Self { jetstream: jetstream::new(client) })
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Creates the stream of another context (`name` holding `subjects`), as its owner would
    /// at start-up, for a test of a service that consumes from it.
    pub async fn create_stream(&self, name: &str, subjects: &str) -> anyhow::Result<()> {
        self.jetstream
            .get_or_create_stream(jetstream::stream::Config {
                name: name.to_string(),
                subjects: vec![subjects.to_string()],
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Publishes `event` with a fresh event id (returned) and waits for the stream's ack.
    pub async fn publish<E: Event>(&self, event: &E) -> anyhow::Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        self.publish_as(event, &id).await?;
        Ok(id)
    }

    /// Publishes `event` as event `id` (again, to test de-duplication) under a new message id,
    /// so JetStream stores it a second time, as a republished outbox row would be.
    pub async fn publish_as<E: Event>(&self, event: &E, id: &str) -> anyhow::Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert(headers::MSG_ID, uuid::Uuid::now_v7().to_string().as_str());
        headers.insert(headers::EVENT_ID, id);
        headers.insert(headers::EVENT_TYPE, E::TYPE);
        headers.insert(headers::PRODUCER, "test");
        let payload = prost::Message::encode_to_vec(event);
        self.jetstream.publish_with_headers(E::SUBJECT, headers, payload.into()).await?.await?;
        Ok(())
    }

    /// Every `E` on `stream` so far, in stream order.
    pub async fn all<E: Event>(&self, stream: &str) -> anyhow::Result<Vec<E>> {
        let stream = self.jetstream.get_stream(stream).await?;
        let info = stream.get_info().await?;
        let mut out = Vec::new();
        for sequence in info.state.first_sequence..=info.state.last_sequence {
            let Ok(message) = stream.get_raw_message(sequence).await else { continue };
            if message.subject.as_str() == E::SUBJECT {
                out.push(E::decode(message.payload)?);
            }
        }
        Ok(out)
    }

    /// The first `E` on `stream` for which `matches` holds, waiting up to `deadline` for it.
    pub async fn wait_for<E: Event>(&self, stream: &str, deadline: Duration, matches: impl Fn(&E) -> bool) -> E {
        eventually(deadline, E::TYPE, || async { self.all::<E>(stream).await.ok()?.into_iter().find(|e| matches(e)) })
            .await
    }

    /// The errors of the dead letters on the `DLQ` stream, once there are at least `n`.
    pub async fn dead_letter_errors(&self, n: usize, deadline: Duration) -> Vec<String> {
        eventually(deadline, "dead letters", || async {
            let stream = self.jetstream.get_stream(crate::events::DLQ_STREAM.name).await.ok()?;
            let info = stream.get_info().await.ok()?;
            let mut errors = Vec::new();
            for sequence in info.state.first_sequence..=info.state.last_sequence {
                let message = stream.get_raw_message(sequence).await.ok()?;
                errors.push(message.headers.get(headers::DLQ_ERROR)?.as_str().to_string());
            }
            (errors.len() >= n).then_some(errors)
        })
        .await
    }
}
