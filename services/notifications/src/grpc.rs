//! NotificationService: a signed-in user lists their own notifications, newest first. There
//! is no way to read someone else's: the listing is always the caller's (admins included,
//! since a notification is a message to one person).

use chrono::{DateTime, Utc};
use mercato::notifications::v1::{self as pb, notification_service_server::NotificationService};
use mercato_kit::{
    auth::{Access, authorize},
    error::FieldViolations,
    page,
    time::timestamp,
};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::storage::notifications::{self, Listing, NotificationRow};

#[derive(Debug)]
pub struct NotificationApi {
    pub db: DatabaseConnection,
}

/// Where the next page starts, for the order filter it was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "o")]
    order_id: String,
    #[serde(rename = "t")]
    before_created: DateTime<Utc>,
    #[serde(rename = "i")]
    before_id: String,
}

/// A ListNotifications request: (order filter, page size, where to start).
fn list_request(req: &pb::ListNotificationsRequest) -> Result<(Option<String>, u64, Option<Cursor>), Status> {
    let mut v = FieldViolations::new();
    let limit = v.check("page_size", page::page_size(req.page_size));
    let cursor = v.check(
        "page_token",
        page::cursor_for(&req.page_token, req.order_id.as_str(), |c: &Cursor| c.order_id.as_str(), "order_id"),
    );
    if req.order_id.len() > 128 {
        v.add("order_id", "must be at most 128 characters");
    }
    let (limit, cursor) = v.finish(limit.zip(cursor))?;
    Ok(((!req.order_id.is_empty()).then(|| req.order_id.clone()), limit, cursor))
}

fn kind(raw: &str) -> pb::NotificationKind {
    match raw {
        "WELCOME" => pb::NotificationKind::Welcome,
        "ORDER_PLACED" => pb::NotificationKind::OrderPlaced,
        "PAYMENT_COMPLETED" => pb::NotificationKind::PaymentCompleted,
        "PAYMENT_FAILED" => pb::NotificationKind::PaymentFailed,
        "ORDER_CANCELLED" => pb::NotificationKind::OrderCancelled,
        "SHIPMENT_DISPATCHED" => pb::NotificationKind::ShipmentDispatched,
        "SHIPMENT_DELIVERED" => pb::NotificationKind::ShipmentDelivered,
        _ => pb::NotificationKind::Unspecified,
    }
}

fn notification(row: &NotificationRow) -> pb::Notification {
    pb::Notification {
        id: row.id.clone(),
        user_id: row.user_id.clone(),
        channel: pb::NotificationChannel::Email as i32,
        kind: kind(&row.kind) as i32,
        subject: row.subject.clone(),
        body: row.body.clone(),
        order_id: row.order_id.clone(),
        status: if row.status == "SENT" { pb::NotificationStatus::Sent } else { pb::NotificationStatus::Failed } as i32,
        failure_message: row.failure_message.clone(),
        create_time: Some(timestamp(row.created_at)),
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let caller = authorize(&request, Access::Authenticated)?.cloned();
        let (order_id, limit, cursor) = list_request(request.get_ref())?;
        let Some(caller) = caller else { return Err(Status::unauthenticated("sign in first")) };
        let listing = Listing {
            user_id: caller.subject.clone(),
            order_id: order_id.clone(),
            before: cursor.map(|c| (c.before_created, c.before_id)),
            // One more than asked: whether there is a next page.
            limit: limit + 1,
        };
        let mut rows = notifications::list(&self.db, &listing).await.map_err(mercato_kit::error::database)?;
        let more = page::trim(&mut rows, limit);
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => page::encode(&Cursor {
                order_id: order_id.unwrap_or_default(),
                before_created: last.created_at,
                before_id: last.id.clone(),
            }),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: rows.iter().map(notification).collect(),
            next_page_token,
        }))
    }
}
