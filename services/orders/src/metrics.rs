//! orders' business counters (docs/observability.md, "Business"): orders placed, confirmed and
//! cancelled, revenue, and how long a checkout takes to confirm. Nothing here is counted
//! before its transaction has committed: PlaceOrder counts after its commit, and the saga's
//! callers count the [`Milestone`] that [`crate::saga::advance`] reports after theirs (a
//! consumer through `Delivery::on_commit`, so a batch rolled back and handled again one by
//! one counts once).

use chrono::Utc;
use mercato_kit::money::{Currency, Money};
use prometheus::{CounterVec, Histogram, HistogramOpts, IntCounterVec, Opts, Registry, core::Collector};

use crate::{domain::saga::Reason, saga::Milestone};

/// From 50 ms (the relay and three consumers passing a reply along on an idle system) to a
/// minute and beyond: the commit is re-sent after each 30 s step timeout until it is
/// answered, and a confirmation that took that long is exactly what the tail should show.
const TIME_TO_CONFIRMED_BUCKETS: [f64; 13] =
    [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];

/// The handles of orders' business metrics, registered once per server. Cheap to clone:
/// each handle shares its series with the registry.
#[derive(Debug, Clone)]
pub struct OrderMetrics {
    placed: IntCounterVec,
    confirmed: IntCounterVec,
    cancelled: IntCounterVec,
    revenue: CounterVec,
    time_to_confirmed: Histogram,
}

impl OrderMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            placed: IntCounterVec::new(
                Opts::new(
                    "mercato_orders_placed_total",
                    "Orders PlaceOrder committed (a repeated key is no new order).",
                ),
                &["currency"],
            )?,
            confirmed: IntCounterVec::new(
                Opts::new("mercato_orders_confirmed_total", "Orders the checkout saga committed as CONFIRMED."),
                &["currency"],
            )?,
            cancelled: IntCounterVec::new(
                Opts::new("mercato_orders_cancelled_total", "Orders committed as CANCELLED, by the saga's reason."),
                &["reason"],
            )?,
            revenue: CounterVec::new(
                Opts::new("mercato_revenue_total", "Totals of confirmed orders, in the currency's major unit."),
                &["currency"],
            )?,
            time_to_confirmed: Histogram::with_opts(
                HistogramOpts::new(
                    "mercato_checkout_time_to_confirmed_seconds",
                    "Time from an order's creation to the commit of CONFIRMED.",
                )
                .buckets(TIME_TO_CONFIRMED_BUCKETS.to_vec()),
            )?,
        };
        let collectors: [Box<dyn Collector>; 5] = [
            Box::new(metrics.placed.clone()),
            Box::new(metrics.confirmed.clone()),
            Box::new(metrics.cancelled.clone()),
            Box::new(metrics.revenue.clone()),
            Box::new(metrics.time_to_confirmed.clone()),
        ];
        for collector in collectors {
            registry.register(collector)?;
        }
        // Every reason exported from the start, at 0: a rate over a series that appears only
        // with its first cancellation misses that cancellation.
        for reason in Reason::ALL {
            metrics.cancelled.with_label_values(&[cancelled_label(reason)]);
        }
        Ok(metrics)
    }

    /// A new order committed by PlaceOrder.
    pub fn placed(&self, currency: Currency) {
        self.placed.with_label_values(&[currency.as_str()]).inc();
    }

    /// What a committed saga move reached. The time to CONFIRMED is taken now, so call this
    /// right after the commit.
    pub fn reached(&self, milestone: &Milestone) {
        match milestone {
            Milestone::Confirmed { total, placed_at } => {
                let currency = total.currency();
                self.confirmed.with_label_values(&[currency.as_str()]).inc();
                self.revenue.with_label_values(&[currency.as_str()]).inc_by(major_units(*total));
                // Another replica's clock may be a little behind: never a negative duration.
                let took = (Utc::now() - *placed_at).to_std().unwrap_or_default();
                self.time_to_confirmed.observe(took.as_secs_f64());
            }
            Milestone::Cancelled(reason) => self.cancelled.with_label_values(&[cancelled_label(*reason)]).inc(),
        }
    }
}

/// The `reason` label of a cancellation: the saga's reasons are a closed set, so the label's
/// values are too (and a new reason cannot be added without naming its label here).
fn cancelled_label(reason: Reason) -> &'static str {
    match reason {
        Reason::OutOfStock => "out_of_stock",
        Reason::PaymentDeclined => "payment_declined",
        Reason::Timeout => "timeout",
        Reason::UserCancelled => "customer",
    }
}

/// `money` in its currency's major unit (USD 12.50 → 12.5), as charged: in whole minor units.
/// The count of minor units is exact, and one division by a power of ten gives the double
/// nearest the decimal amount; adding units and nanos as doubles would round twice.
fn major_units(money: Money) -> f64 {
    let scale = 10_f64.powi(i32::from(money.currency().minor_unit_digits()));
    match money.to_minor_units() {
        Ok(minor) => minor as f64 / scale,
        // Beyond i64 minor units no order gets, but a counter must neither panic nor drop it.
        Err(_) => money.units() as f64 + f64::from(money.nanos()) / 1e9,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::Duration;
    use mercato_kit::metrics::Metrics;

    use super::*;

    fn metrics() -> (Metrics, OrderMetrics) {
        let server = Metrics::new("orders", "test");
        let orders = OrderMetrics::register(server.registry()).unwrap();
        (server, orders)
    }

    #[test]
    fn major_units_follow_each_currencys_minor_unit() {
        assert_eq!(major_units(Money::new("USD", 12, 500_000_000).unwrap()), 12.5);
        assert_eq!(major_units(Money::new("JPY", 500, 0).unwrap()), 500.0);
        assert_eq!(major_units(Money::new("KWD", 1, 234_000_000).unwrap()), 1.234);
        // Rounded as a provider charges it, half to even.
        assert_eq!(major_units(Money::new("USD", 0, 125_000_000).unwrap()), 0.12);
        assert_eq!(major_units(Money::new("USD", i64::MAX, 0).unwrap()), i64::MAX as f64);
    }

    #[test]
    fn every_cancellation_reason_is_exported_from_the_start() {
        let (server, _) = metrics();
        let text = server.encode();
        for label in ["out_of_stock", "payment_declined", "timeout", "customer"] {
            assert!(text.contains(&format!(r#"mercato_orders_cancelled_total{{reason="{label}"}} 0"#)), "{text}");
        }
    }

    #[test]
    fn a_confirmation_counts_the_order_its_revenue_and_its_time() {
        let (server, orders) = metrics();
        let total = Money::new("EUR", 31, 990_000_000).unwrap();
        orders.reached(&Milestone::Confirmed { total, placed_at: Utc::now() - Duration::seconds(2) });
        orders.reached(&Milestone::Cancelled(Reason::UserCancelled));
        let text = server.encode();
        assert!(text.contains(r#"mercato_orders_confirmed_total{currency="EUR"} 1"#), "{text}");
        assert!(text.contains(r#"mercato_revenue_total{currency="EUR"} 31.99"#), "{text}");
        assert!(text.contains(r#"mercato_checkout_time_to_confirmed_seconds_bucket{le="1"} 0"#), "{text}");
        assert!(text.contains(r#"mercato_checkout_time_to_confirmed_seconds_bucket{le="2.5"} 1"#), "{text}");
        assert!(text.contains(r#"mercato_orders_cancelled_total{reason="customer"} 1"#), "{text}");
    }

    #[test]
    fn registering_twice_in_one_registry_is_refused() {
        let (server, _) = metrics();
        assert!(OrderMetrics::register(server.registry()).is_err());
    }
}
