//! Every contract event's subject and ordering key, in one place: publisher and consumers
//! must agree on them, and they are part of the contract as much as the message is.

use mercato::{
    catalog::v1 as catalog, identity::v1 as identity, orders::v1 as orders, payments::v1 as payments,
    shipping::v1 as shipping,
};

use super::Event;

/// `contract!(module::Message, "subject", |e| ordering key)`.
macro_rules! contract {
    ($module:ident :: $message:ident, $subject:literal, |$e:ident| $key:expr) => {
        impl Event for $module::$message {
            const SUBJECT: &'static str = $subject;
            const TYPE: &'static str = concat!("mercato.", stringify!($module), ".v1.", stringify!($message));
            fn aggregate(&self) -> String {
                let $e = self;
                $key
            }
        }
    };
}

// A user's events are ordered per user: a profile change must not overtake the registration.
contract!(identity::UserRegistered, "identity.v1.user_registered", |e| e.user_id.clone());
contract!(identity::UserProfileChanged, "identity.v1.user_profile_changed", |e| e.user_id.clone());

contract!(catalog::StockLevelChanged, "catalog.v1.stock_level_changed", |e| e.product_id.clone());
contract!(catalog::ProductChanged, "catalog.v1.product_changed", |e| e
    .product
    .as_ref()
    .map(|p| p.id.clone())
    .unwrap_or_default());

// The checkout saga's commands and replies are ordered per order: a release must not overtake
// the reservation it gives back, nor a reply the one before it.
contract!(catalog::ReserveStockCommand, "catalog.v1.commands.reserve_stock", |e| e.order_id.clone());
contract!(catalog::ReleaseStockCommand, "catalog.v1.commands.release_stock", |e| e.order_id.clone());
contract!(catalog::CommitStockCommand, "catalog.v1.commands.commit_stock", |e| e.order_id.clone());
contract!(catalog::StockReserved, "catalog.v1.stock_reserved", |e| e.order_id.clone());
contract!(catalog::StockReservationFailed, "catalog.v1.stock_reservation_failed", |e| e.order_id.clone());
contract!(catalog::StockReleased, "catalog.v1.stock_released", |e| e.order_id.clone());
contract!(catalog::StockCommitted, "catalog.v1.stock_committed", |e| e.order_id.clone());

contract!(payments::ChargePaymentCommand, "payments.v1.commands.charge_payment", |e| e.order_id.clone());
contract!(payments::RefundPaymentCommand, "payments.v1.commands.refund_payment", |e| e.order_id.clone());
contract!(payments::PaymentCompleted, "payments.v1.payment_completed", |e| e.order_id.clone());
contract!(payments::PaymentFailed, "payments.v1.payment_failed", |e| e.order_id.clone());
contract!(payments::PaymentRefunded, "payments.v1.payment_refunded", |e| e.order_id.clone());

contract!(orders::OrderPlaced, "orders.v1.order_placed", |e| e.order_id.clone());
contract!(orders::OrderConfirmed, "orders.v1.order_confirmed", |e| e.order_id.clone());
contract!(orders::OrderCancelled, "orders.v1.order_cancelled", |e| e.order_id.clone());
contract!(orders::OrderStatusChanged, "orders.v1.order_status_changed", |e| e
    .order
    .as_ref()
    .map(|o| o.id.clone())
    .unwrap_or_default());

// A shipment's events are ordered per order, like the order events they follow from.
contract!(shipping::ShipmentDispatched, "shipping.v1.shipment_dispatched", |e| e.order_id.clone());
contract!(shipping::ShipmentDelivered, "shipping.v1.shipment_delivered", |e| e.order_id.clone());
contract!(shipping::ShipmentCancelled, "shipping.v1.shipment_cancelled", |e| e.order_id.clone());

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// Every fully qualified message name in the contracts.
    fn message_names() -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(mercato::FILE_DESCRIPTOR_SET).unwrap_or_default();
        set.file
            .iter()
            .flat_map(|file| file.message_type.iter().map(move |m| format!("{}.{}", file.package(), m.name())))
            .collect()
    }

    #[test]
    fn types_are_real_message_names_and_subjects_follow_their_package() {
        let names = message_names();
        fn check<E: Event>(names: &[String]) {
            assert!(names.iter().any(|n| n == E::TYPE), "{} is not a message in proto/", E::TYPE);
            let mut parts = E::TYPE.split('.');
            let (context, version) = (parts.nth(1).unwrap_or(""), parts.next().unwrap_or(""));
            assert!(E::SUBJECT.starts_with(&format!("{context}.{version}.")), "{}", E::SUBJECT);
        }
        check::<catalog::StockLevelChanged>(&names);
        check::<catalog::ProductChanged>(&names);
        check::<catalog::ReserveStockCommand>(&names);
        check::<catalog::ReleaseStockCommand>(&names);
        check::<catalog::CommitStockCommand>(&names);
        check::<catalog::StockReserved>(&names);
        check::<catalog::StockReservationFailed>(&names);
        check::<catalog::StockReleased>(&names);
        check::<catalog::StockCommitted>(&names);
        check::<payments::ChargePaymentCommand>(&names);
        check::<payments::RefundPaymentCommand>(&names);
        check::<payments::PaymentCompleted>(&names);
        check::<payments::PaymentFailed>(&names);
        check::<payments::PaymentRefunded>(&names);
        check::<orders::OrderPlaced>(&names);
        check::<orders::OrderConfirmed>(&names);
        check::<orders::OrderCancelled>(&names);
        check::<orders::OrderStatusChanged>(&names);
        check::<shipping::ShipmentDispatched>(&names);
        check::<shipping::ShipmentDelivered>(&names);
        check::<shipping::ShipmentCancelled>(&names);
    }
}
