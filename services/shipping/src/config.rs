//! shipping's own flags, on top of the kit's (see `mercato_kit::service`).

use std::time::Duration;

use clap::Args;
use mercato_kit::config::{Problems, parse_duration, parse_positive_duration};

use crate::domain::carriers::Carriers;

/// Flags only shipping has.
#[derive(Debug, Clone, Args)]
pub struct ShippingArgs {
    /// How long a new shipment is prepared (picked and packed) before it is handed to its
    /// carrier.
    #[arg(long, env = "DISPATCH_DELAY", default_value = "5s")]
    pub dispatch_delay: String,

    /// How long the carrier takes from dispatch to delivery.
    #[arg(long, env = "DELIVERY_DELAY", default_value = "30s")]
    pub delivery_delay: String,

    /// The carrier of each destination country and `*` for the others.
    #[arg(long, env = "CARRIERS", default_value = "US=UPS,GB=Royal Mail,DE=DHL,*=DHL Express")]
    pub carriers: String,

    /// How often the durable timer looks for shipments whose next move is due.
    #[arg(long, env = "SHIPPING_TIMER_INTERVAL", default_value = "500ms")]
    pub shipping_timer_interval: String,
}

/// shipping's validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub delays: Delays,
    pub carriers: Carriers,
    pub timer_interval: Duration,
}

/// How long a shipment waits in each status before it moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    pub dispatch: Duration,
    pub delivery: Duration,
}

impl ShippingArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<Settings> {
        // Zero is allowed for both: a shop that ships at once (and tests) have no wait.
        let dispatch = problems.check("DISPATCH_DELAY (--dispatch-delay)", parse_duration(&self.dispatch_delay));
        let delivery = problems.check("DELIVERY_DELAY (--delivery-delay)", parse_duration(&self.delivery_delay));
        let carriers = problems.check("CARRIERS (--carriers)", Carriers::parse(&self.carriers));
        let timer_interval = problems.check(
            "SHIPPING_TIMER_INTERVAL (--shipping-timer-interval)",
            parse_positive_duration(&self.shipping_timer_interval),
        );
        Some(Settings {
            delays: Delays { dispatch: dispatch?, delivery: delivery? },
            carriers: carriers?,
            timer_interval: timer_interval?,
        })
    }
}
