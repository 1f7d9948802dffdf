//! shipping's business counter (docs/observability.md, "Business"): shipments dispatched,
//! counted by the timer once the transaction that made the shipment DISPATCHED has committed.

use prometheus::{IntCounter, Registry};

/// The handles of shipping's business metrics, registered once per server.
#[derive(Debug, Clone)]
pub struct ShippingMetrics {
    dispatched: IntCounter,
}

impl ShippingMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let dispatched = IntCounter::new(
            "mercato_shipments_dispatched_total",
            "Shipments committed as DISPATCHED (handed to their carrier).",
        )?;
        registry.register(Box::new(dispatched.clone()))?;
        Ok(Self { dispatched })
    }

    pub fn dispatched(&self) {
        self.dispatched.inc();
    }
}
