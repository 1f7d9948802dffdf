//! Appending events to the outbox inside the caller's transaction.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, DbErr, EntityTrait};
use tokio::sync::Notify;

use super::{Event, headers, migration::entity::outbox, scope};

/// Where a service's handlers put the events of a change. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    service: &'static str,
    version: &'static str,
    wake: Arc<Notify>,
}

impl Outbox {
    pub(crate) fn new(service: &'static str, version: &'static str, wake: Arc<Notify>) -> Self {
        Self { service, version, wake }
    }

    /// An outbox for a one-off command that runs beside (not inside) the service: what it
    /// appends is published by the running service's relay at its next poll.
    pub fn detached(service: &'static str, version: &'static str) -> Self {
        Self::new(service, version, Arc::new(Notify::new()))
    }

    /// Appends `event` to the outbox in `txn`: it is published if and only if `txn` commits.
    /// Call it after the write that locks the event's aggregate, so that per aggregate the
    /// outbox order is the commit order. Returns the event id.
    pub async fn publish<E: Event>(&self, txn: &DatabaseTransaction, event: &E) -> Result<String, DbErr> {
        let id = crate::domain::new_uuid();
        let now = Utc::now();
        let correlation = scope::current();
        let mut extra = serde_json::Map::new();
        extra.insert(headers::PRODUCER.into(), self.service.into());
        extra.insert(headers::PRODUCER_VERSION.into(), self.version.into());
        extra.insert(headers::OCCURRED_AT.into(), now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
        if let Some(request_id) = correlation.request_id {
            extra.insert(headers::REQUEST_ID.into(), request_id.into());
        }
        // The span that wrote the row, when tracing is on: the relay's publish span becomes
        // its child. Off, the caller's trace context passes through as it came.
        let context = crate::trace::propagate::context_of(&tracing::Span::current());
        if context.is_empty() {
            if let Some(traceparent) = correlation.traceparent {
                extra.insert(headers::TRACEPARENT.into(), traceparent.into());
            }
        } else {
            for (name, value) in context {
                extra.insert(name.into(), value.into());
            }
        }
        outbox::Entity::insert(outbox::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            event_id: Set(id.clone()),
            aggregate: Set(event.aggregate()),
            subject: Set(E::SUBJECT.to_string()),
            event_type: Set(E::TYPE.to_string()),
            payload: Set(event.encode_to_vec()),
            headers: Set(serde_json::Value::Object(extra).to_string()),
            created_at: Set(now),
            sent_at: Set(None),
        })
        .exec_without_returning(txn)
        .await?;
        Ok(id)
    }

    /// Commits `txn` and wakes the relay, so the events are on their way within milliseconds
    /// rather than at the next poll.
    pub async fn commit(&self, txn: DatabaseTransaction) -> Result<(), DbErr> {
        txn.commit().await?;
        self.wake.notify_one();
        Ok(())
    }
}
