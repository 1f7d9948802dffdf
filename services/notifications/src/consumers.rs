//! The events notifications reacts to. Identity's keep the contacts; each customer-facing
//! event becomes one notification for its user, rendered, delivered through the sink and
//! recorded in the consumer's transaction (the kit's consumer has already claimed the event
//! id there, so a redelivery is dropped before it gets here; the unique (event, recipient) row
//! backs that up).
//!
//! A notification for a user whose contact has not arrived is retried: identity's events come
//! through another stream and may be behind. A sink failure is retried with the consumer's
//! backoff and dead-lettered when exhausted. An address the e-mail cannot be built for is
//! recorded as FAILED at once: retrying would not change it.

use std::{marker::PhantomData, sync::Arc};

use chrono::{DateTime, Utc};
use mercato::{identity::v1 as identity, orders::v1 as orders, payments::v1 as payments, shipping::v1 as shipping};
use mercato_kit::events::{Delivery, Event, Handler, HandlerError};

use crate::{
    domain::{
        email,
        templates::{self, Contact, Message},
    },
    metrics::{Channel, NotificationMetrics},
    sink::{Outgoing, Sink},
    storage::{
        contacts,
        notifications::{self, NotificationRow},
    },
};

/// How notifications are sent: the sink, the sender's address, and the counter of what the
/// sink accepted.
#[derive(Debug, Clone)]
pub struct Sending {
    pub sink: Arc<dyn Sink>,
    pub from: String,
    pub metrics: NotificationMetrics,
}

fn at(timestamp: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    timestamp
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_else(Utc::now)
}

/// The notification's id: the same for the same (event, recipient), so a message the sink
/// saw before a crash is resent under the same Message-ID and file name.
fn notification_id(event_id: &str, user_id: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{event_id}/{user_id}").as_bytes()).to_string()
}

impl Sending {
    /// Renders `message` for `user_id`, delivers it and records it, unless it was already.
    async fn notify(
        &self,
        delivery: &Delivery<'_>,
        user_id: &str,
        order_id: &str,
        kind: &str,
        message: Message<'_>,
    ) -> Result<(), HandlerError> {
        let txn = delivery.txn;
        if notifications::exists(txn, delivery.event_id, user_id).await? {
            return Ok(());
        }
        let Some(contact) = contacts::get(txn, user_id).await? else {
            return Err(HandlerError::Transient(anyhow::anyhow!("no contact details for user {user_id} yet")));
        };
        let rendered = templates::render(&contact, message);
        let id = notification_id(delivery.event_id, user_id);
        let (status, failure) = match email::build(&self.from, &contact, &rendered, &id) {
            Ok(message) => {
                let outgoing = Outgoing { id: id.clone(), message };
                self.sink.deliver(&outgoing).await.map_err(|e| HandlerError::Transient(e.into()))?;
                let metrics = self.metrics.clone();
                delivery.on_commit(move || metrics.sent(Channel::Email));
                ("SENT", String::new())
            }
            Err(e) => {
                tracing::warn!(notification_id = id, %user_id, kind, error = %e, "notification cannot be sent");
                ("FAILED", e.to_string())
            }
        };
        let row = NotificationRow {
            id,
            event_id: delivery.event_id.to_string(),
            user_id: user_id.to_string(),
            kind: kind.to_string(),
            channel: "EMAIL".to_string(),
            recipient: contact.email,
            subject: rendered.subject,
            body: rendered.text,
            order_id: order_id.to_string(),
            status: status.to_string(),
            failure_message: failure,
            created_at: Utc::now(),
        };
        notifications::insert(txn, row).await?;
        Ok(())
    }
}

/// Keeps contacts from UserRegistered (and welcomes the new user) and UserProfileChanged.
#[derive(Debug, Clone)]
pub struct Contacts {
    pub sending: Sending,
}

impl Handler<identity::UserRegistered> for Contacts {
    async fn handle(&self, event: identity::UserRegistered, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let details = Contact { email: event.email.clone(), display_name: event.display_name.clone() };
        contacts::upsert(delivery.txn, &event.user_id, &details, at(event.occurred_at.as_ref())).await?;
        self.sending.notify(delivery, &event.user_id, "", "WELCOME", Message::Welcome).await
    }
}

impl Handler<identity::UserProfileChanged> for Contacts {
    async fn handle(&self, event: identity::UserProfileChanged, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let details = Contact { email: event.email, display_name: event.display_name };
        contacts::upsert(delivery.txn, &event.user_id, &details, at(event.occurred_at.as_ref())).await?;
        Ok(())
    }
}

/// An event that tells one customer about their order.
pub trait Notifiable: Event {
    /// The contract's NotificationKind without its prefix.
    const KIND: &'static str;
    fn user_id(&self) -> &str;
    fn order_id(&self) -> &str;
    fn message(&self) -> Message<'_>;
}

macro_rules! notifiable {
    ($event:ty, $kind:literal, $variant:ident) => {
        impl Notifiable for $event {
            const KIND: &'static str = $kind;
            fn user_id(&self) -> &str {
                &self.user_id
            }
            fn order_id(&self) -> &str {
                &self.order_id
            }
            fn message(&self) -> Message<'_> {
                Message::$variant(self)
            }
        }
    };
}

notifiable!(orders::OrderPlaced, "ORDER_PLACED", OrderPlaced);
notifiable!(payments::PaymentCompleted, "PAYMENT_COMPLETED", PaymentReceipt);
notifiable!(payments::PaymentFailed, "PAYMENT_FAILED", PaymentFailed);
notifiable!(orders::OrderCancelled, "ORDER_CANCELLED", OrderCancelled);
notifiable!(shipping::ShipmentDispatched, "SHIPMENT_DISPATCHED", ShipmentDispatched);
notifiable!(shipping::ShipmentDelivered, "SHIPMENT_DELIVERED", ShipmentDelivered);

/// Sends the notification of one kind of [`Notifiable`] event.
#[derive(Debug)]
pub struct Notify<E> {
    pub sending: Sending,
    kind: PhantomData<fn(E)>,
}

impl<E> Notify<E> {
    pub fn new(sending: Sending) -> Self {
        Self { sending, kind: PhantomData }
    }
}

impl<E: Notifiable> Handler<E> for Notify<E> {
    async fn handle(&self, event: E, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        self.sending.notify(delivery, event.user_id(), event.order_id(), E::KIND, event.message()).await
    }
}
