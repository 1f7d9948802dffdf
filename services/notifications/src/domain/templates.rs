//! One message per event a customer should hear about. Each message is first laid out as
//! blocks (paragraphs, the order's lines, labelled facts); the plain-text and the HTML body are
//! both written from those blocks, so the two parts of an e-mail can never say different things.

use mercato::{
    google::r#type::Money as ProtoMoney,
    orders::v1::{self as orders, CancellationReason},
    payments::v1 as payments,
    shipping::v1 as shipping,
};
use mercato_kit::money::Money;

use super::html::escape;

/// Where a notification goes, as notifications' own copy of identity's events holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub email: String,
    pub display_name: String,
}

/// What happened, as the event that reported it says.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    Welcome,
    OrderPlaced(&'a orders::OrderPlaced),
    PaymentReceipt(&'a payments::PaymentCompleted),
    PaymentFailed(&'a payments::PaymentFailed),
    OrderCancelled(&'a orders::OrderCancelled),
    ShipmentDispatched(&'a shipping::ShipmentDispatched),
    ShipmentDelivered(&'a shipping::ShipmentDelivered),
}

/// A rendered message: the subject and both bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug)]
enum Block {
    Paragraph(String),
    /// The order's lines: name, quantity, unit price, line total.
    Lines(Vec<[String; 4]>),
    /// Labelled values (order id, amounts, tracking number).
    Facts(Vec<(&'static str, String)>),
}

/// `USD 12.50`, or a dash for an amount the event did not carry (a refund of nothing).
fn money(amount: Option<&ProtoMoney>) -> String {
    amount.and_then(|m| Money::try_from(m).ok()).map_or_else(|| "—".to_string(), |m| m.to_string())
}

fn lines(lines: &[orders::OrderLine]) -> Block {
    Block::Lines(
        lines
            .iter()
            .map(|l| {
                [
                    l.product_name.clone(),
                    l.quantity.to_string(),
                    money(l.unit_price.as_ref()),
                    money(l.line_total.as_ref()),
                ]
            })
            .collect(),
    )
}

fn address(address: Option<&orders::Address>) -> String {
    let Some(a) = address else { return "—".to_string() };
    let mut parts = vec![a.recipient_name.clone()];
    parts.extend(a.address_lines.iter().cloned());
    let city = [a.postal_code.as_str(), a.city.as_str()].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>();
    parts.push(city.join(" "));
    parts.extend([a.region.clone(), a.country_code.clone()]);
    parts.retain(|p| !p.is_empty());
    parts.join(", ")
}

fn reason(reason: i32) -> &'static str {
    match CancellationReason::try_from(reason) {
        Ok(CancellationReason::OutOfStock) => "some of the items were no longer in stock",
        Ok(CancellationReason::PaymentDeclined) => "the payment was declined",
        Ok(CancellationReason::Timeout) => "it could not be completed in time",
        Ok(CancellationReason::UserCancelled) => "you cancelled it",
        _ => "it could not be completed",
    }
}

/// The message for `contact`.
pub fn render(contact: &Contact, message: Message<'_>) -> Rendered {
    let hello = Block::Paragraph(format!("Hello {},", contact.display_name));
    let (subject, blocks) = match message {
        Message::Welcome => (
            "Welcome to mercato".to_string(),
            vec![
                hello,
                Block::Paragraph("your account is ready. Sign in with this e-mail address to start shopping.".into()),
            ],
        ),
        Message::OrderPlaced(e) => (
            format!("We have your order {}", e.order_id),
            vec![
                hello,
                Block::Paragraph(
                    "thank you for your order. We are reserving the items and taking the payment now.".into(),
                ),
                lines(&e.lines),
                Block::Facts(vec![
                    ("Order", e.order_id.clone()),
                    ("Subtotal", money(e.subtotal.as_ref())),
                    ("Total", money(e.total.as_ref())),
                    ("Ship to", address(e.shipping_address.as_ref())),
                ]),
            ],
        ),
        Message::PaymentReceipt(e) => (
            format!("Payment received for order {}", e.order_id),
            vec![
                hello,
                Block::Paragraph("we have received your payment. This is your receipt.".into()),
                Block::Facts(vec![
                    ("Order", e.order_id.clone()),
                    ("Amount paid", money(e.amount.as_ref())),
                    ("Payment", e.payment_id.clone()),
                ]),
            ],
        ),
        Message::PaymentFailed(e) => (
            format!("Your payment for order {} did not go through", e.order_id),
            vec![
                hello,
                Block::Paragraph(format!(
                    "your payment was declined ({}). Nothing was charged; the order will be cancelled.",
                    if e.failure_message.is_empty() { e.failure_code.as_str() } else { e.failure_message.as_str() }
                )),
                Block::Facts(vec![("Order", e.order_id.clone()), ("Amount", money(e.amount.as_ref()))]),
            ],
        ),
        Message::OrderCancelled(e) => (
            format!("Order {} is cancelled", e.order_id),
            vec![
                hello,
                Block::Paragraph(format!("your order was cancelled because {}.", reason(e.reason))),
                Block::Paragraph(
                    if e.payment_refunded {
                        "The amount you paid has been refunded."
                    } else {
                        "Nothing was charged for it."
                    }
                    .into(),
                ),
                Block::Facts(vec![("Order", e.order_id.clone()), ("Total", money(e.total.as_ref()))]),
            ],
        ),
        Message::ShipmentDispatched(e) => (
            format!("Order {} is on its way", e.order_id),
            vec![
                hello,
                Block::Paragraph("your order has been handed to the carrier.".into()),
                Block::Facts(vec![
                    ("Order", e.order_id.clone()),
                    ("Carrier", e.carrier.clone()),
                    ("Tracking number", e.tracking_number.clone()),
                ]),
            ],
        ),
        Message::ShipmentDelivered(e) => (
            format!("Order {} was delivered", e.order_id),
            vec![
                hello,
                Block::Paragraph("the carrier says your order was delivered. We hope you enjoy it.".into()),
                Block::Facts(vec![
                    ("Order", e.order_id.clone()),
                    ("Carrier", e.carrier.clone()),
                    ("Tracking number", e.tracking_number.clone()),
                ]),
            ],
        ),
    };
    Rendered { text: text(&blocks), html: html(&subject, &blocks), subject }
}

fn text(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Paragraph(p) => out.push_str(p),
            Block::Lines(rows) => {
                for [name, quantity, unit, total] in rows {
                    out.push_str(&format!("  {quantity} × {name} at {unit}: {total}\n"));
                }
                out.pop();
            }
            Block::Facts(facts) => {
                for (label, value) in facts {
                    out.push_str(&format!("{label}: {value}\n"));
                }
                out.pop();
            }
        }
        out.push_str("\n\n");
    }
    out.push_str("— mercato\n");
    out
}

fn html(subject: &str, blocks: &[Block]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n",
        escape(subject)
    );
    for block in blocks {
        match block {
            Block::Paragraph(p) => out.push_str(&format!("<p>{}</p>\n", escape(p))),
            Block::Lines(rows) => {
                out.push_str("<table>\n<tr><th>Item</th><th>Quantity</th><th>Unit price</th><th>Total</th></tr>\n");
                for row in rows {
                    let cells: Vec<String> = row.iter().map(|c| format!("<td>{}</td>", escape(c))).collect();
                    out.push_str(&format!("<tr>{}</tr>\n", cells.concat()));
                }
                out.push_str("</table>\n");
            }
            Block::Facts(facts) => {
                out.push_str("<dl>\n");
                for (label, value) in facts {
                    out.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", escape(label), escape(value)));
                }
                out.push_str("</dl>\n");
            }
        }
    }
    out.push_str("<p>— mercato</p>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(units: i64, nanos: i32) -> Option<ProtoMoney> {
        Some(ProtoMoney { currency_code: "USD".into(), units, nanos })
    }

    fn ada() -> Contact {
        Contact { email: "ada@example.com".into(), display_name: "Ada <script>".into() }
    }

    fn placed() -> orders::OrderPlaced {
        orders::OrderPlaced {
            order_id: "order-1".into(),
            user_id: "user-1".into(),
            lines: vec![
                orders::OrderLine {
                    product_id: "p1".into(),
                    product_name: "Mug & Saucer".into(),
                    unit_price: usd(12, 500_000_000),
                    quantity: 2,
                    line_total: usd(25, 0),
                },
                orders::OrderLine {
                    product_id: "p2".into(),
                    product_name: "Tea".into(),
                    unit_price: usd(4, 0),
                    quantity: 1,
                    line_total: usd(4, 0),
                },
            ],
            subtotal: usd(29, 0),
            total: usd(29, 0),
            shipping_address: Some(orders::Address {
                recipient_name: "Ada Lovelace".into(),
                address_lines: vec!["1 Main Street".into()],
                city: "Springfield".into(),
                postal_code: "12345".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
            occurred_at: None,
        }
    }

    #[test]
    fn an_order_placed_lists_its_lines_and_amounts_with_their_currency_in_both_bodies() {
        let rendered = render(&ada(), Message::OrderPlaced(&placed()));
        assert_eq!(rendered.subject, "We have your order order-1");
        for body in [&rendered.text, &rendered.html] {
            assert!(body.contains("order-1"), "{body}");
            assert!(body.contains("USD 12.50") && body.contains("USD 25.00") && body.contains("USD 29.00"), "{body}");
            assert!(body.contains("Tea"), "{body}");
            assert!(body.contains("1 Main Street") && body.contains("12345 Springfield"), "{body}");
        }
        assert!(rendered.text.contains("2 × Mug & Saucer at USD 12.50: USD 25.00"), "{}", rendered.text);
        assert!(rendered.html.contains("<td>Mug &amp; Saucer</td><td>2</td>"), "{}", rendered.html);
    }

    #[test]
    fn nothing_a_customer_typed_becomes_markup() {
        let rendered = render(&ada(), Message::OrderPlaced(&placed()));
        assert!(!rendered.html.contains("<script>"), "{}", rendered.html);
        assert!(rendered.html.contains("Hello Ada &lt;script&gt;,"), "{}", rendered.html);
        assert!(rendered.text.contains("Hello Ada <script>,"), "plain text is text: {}", rendered.text);
    }

    #[test]
    fn a_receipt_a_decline_a_cancellation_and_a_dispatch_say_what_matters() {
        let receipt = payments::PaymentCompleted {
            payment_id: "pay-1".into(),
            order_id: "order-1".into(),
            amount: usd(29, 0),
            ..Default::default()
        };
        let rendered = render(&ada(), Message::PaymentReceipt(&receipt));
        assert_eq!(rendered.subject, "Payment received for order order-1");
        assert!(rendered.text.contains("Amount paid: USD 29.00"), "{}", rendered.text);

        let declined = payments::PaymentFailed {
            order_id: "order-2".into(),
            amount: usd(5, 0),
            failure_code: "card_declined".into(),
            failure_message: "Your card was declined.".into(),
            ..Default::default()
        };
        let rendered = render(&ada(), Message::PaymentFailed(&declined));
        assert!(rendered.subject.contains("order-2"));
        assert!(rendered.text.contains("Your card was declined.") && rendered.text.contains("USD 5.00"));

        let cancelled = orders::OrderCancelled {
            order_id: "order-3".into(),
            reason: CancellationReason::OutOfStock as i32,
            total: usd(7, 0),
            payment_refunded: true,
            ..Default::default()
        };
        let rendered = render(&ada(), Message::OrderCancelled(&cancelled));
        assert_eq!(rendered.subject, "Order order-3 is cancelled");
        assert!(rendered.text.contains("no longer in stock") && rendered.text.contains("refunded"));

        let dispatched = shipping::ShipmentDispatched {
            order_id: "order-4".into(),
            carrier: "mercato-post".into(),
            tracking_number: "MP123456789".into(),
            ..Default::default()
        };
        let rendered = render(&ada(), Message::ShipmentDispatched(&dispatched));
        for body in [&rendered.text, &rendered.html] {
            assert!(body.contains("MP123456789") && body.contains("mercato-post") && body.contains("order-4"));
        }

        let delivered = shipping::ShipmentDelivered {
            order_id: "order-5".into(),
            carrier: "mercato-post".into(),
            tracking_number: "MP987654321".into(),
            ..Default::default()
        };
        let rendered = render(&ada(), Message::ShipmentDelivered(&delivered));
        assert_eq!(rendered.subject, "Order order-5 was delivered");
        for body in [&rendered.text, &rendered.html] {
            assert!(body.contains("MP987654321") && body.contains("delivered") && body.contains("order-5"));
        }
    }

    #[test]
    fn a_missing_amount_is_a_dash_not_a_zero() {
        let cancelled = orders::OrderCancelled { order_id: "o".into(), ..Default::default() };
        let rendered = render(&ada(), Message::OrderCancelled(&cancelled));
        assert!(rendered.text.contains("Total: —"), "{}", rendered.text);
        assert!(rendered.text.contains("Nothing was charged"), "{}", rendered.text);
    }
}
