//! The whole journey through the gateway only, on real processes of every service: the demo
//! script `just demo` runs (examples/journey.sh: sign-up, search, cart, a checkout confirmed
//! and shipped, one declined and cancelled with its stock back, the e-mails), then the README's
//! walkthrough exactly as written (curl and grpcurl), then an administrator's independent look
//! at what the shop recorded — on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use mercato_e2e::whole::{ADMIN_EMAIL, ADMIN_PASSWORD, WholeShop};
use mercato_kit::{
    on_both_databases,
    testing::{Backend, eventually, http, patience},
};
use serde_json::Value;

/// Quick moves, so that the journey sees its shipment leave within seconds.
const SHIPPING: &[&str] = &["--dispatch-delay", "1s", "--delivery-delay", "2s", "--shipping-timer-interval", "100ms"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A shell with the workspace's tools (grpcurl) first on PATH.
fn bash(script: &str) -> tokio::process::Command {
    let tools = workspace().join(".tools/venv/bin");
    let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = tokio::process::Command::new("timeout");
    command.args([
        format!("{}", patience(Duration::from_secs(100)).as_secs()),
        "bash".into(),
        "-euo".into(),
        "pipefail".into(),
        "-c".into(),
        script.into(),
    ]);
    command.env("PATH", path).current_dir(workspace()).kill_on_drop(true);
    command
}

async fn run(mut command: tokio::process::Command, what: &str) -> String {
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The README's walkthrough: every ```sh block between its markers, in order.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let (_, rest) = readme.split_once("<!-- walkthrough:begin -->").expect("the README marks its walkthrough");
    let (section, _) = rest.split_once("<!-- walkthrough:end -->").expect("the walkthrough ends");
    let mut script = String::new();
    let mut inside = false;
    for line in section.lines() {
        match (inside, line.trim_start()) {
            (false, l) if l.starts_with("```sh") => inside = true,
            (true, "```") => inside = false,
            (true, _) => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    assert!(script.contains("GW=127.0.0.1:8080"), "the walkthrough names the gateway of `just dev`:\n{script}");
    script
}

async fn json(gateway: std::net::SocketAddr, path: &str, token: &str) -> (u16, Value) {
    let bearer = format!("Bearer {token}");
    let (code, body) = http(gateway, "GET", path, &[("Authorization", &bearer)], "").await.unwrap();
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The .eml files whose text mentions `needle`.
fn emails_about(dir: &Path, needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        // Long header lines are folded (RFC 5322 2.2.3): unfold them to find a subject.
        .map(|text| text.replace("\r\n ", " "))
        .filter(|text| text.contains(needle))
        .collect()
}

async fn the_journey_through_the_gateway(backend: Backend) {
    let shop = WholeShop::start(backend, SHIPPING).await.unwrap();
    let gateway = shop.gateway_addr();

    // The demo, as `just demo` runs it against `just dev`.
    let mut demo = bash("bash examples/journey.sh");
    demo.env("GATEWAY", format!("http://{gateway}"))
        .env("MAIL_DIR", &shop.mail_dir)
        .env("WAIT", format!("{}", patience(Duration::from_secs(60)).as_secs()));
    let out = run(demo, "examples/journey.sh").await;
    let last = out.lines().rfind(|l| l.contains("The journey is complete")).expect("the demo's last line");
    let ids: Vec<&str> = last.split_whitespace().filter(|w| w.len() == 36 && w.matches('-').count() == 4).collect();
    let [confirmed, declined] = ids[..] else { panic!("two order ids in {last:?}") };
    for step in ["event: CONFIRMED", "event: CANCELLED", "DISPATCHED with", "available again", ".eml"] {
        assert!(out.contains(step), "{step:?} in the demo's output:\n{out}");
    }

    // The README's commands, exactly as written but for the gateway's address.
    let script = walkthrough().replace("GW=127.0.0.1:8080", &format!("GW={gateway}"));
    let out = run(bash(&script), "the README's walkthrough").await;
    for seen in [
        "ORDER_STATUS_CONFIRMED",
        "\"status\": \"SHIPMENT_STATUS_DISPATCHED\"",
        // Only grpcurl prints the whole shipment, with its order id.
        "\"orderId\"",
        "NOTIFICATION_KIND_WELCOME",
        "NOTIFICATION_KIND_ORDER_PLACED",
        "NOTIFICATION_KIND_PAYMENT_COMPLETED",
        "NOTIFICATION_KIND_SHIPMENT_DISPATCHED",
    ] {
        assert!(out.contains(seen), "{seen} in the walkthrough's output:\n{out}");
    }

    // What the shop recorded, seen by an administrator.
    let login = format!(r#"{{"email":"{ADMIN_EMAIL}","password":"{ADMIN_PASSWORD}"}}"#);
    let (code, body) = http(gateway, "POST", "/v1/sessions", &[], &login).await.unwrap();
    assert_eq!(code, 200, "{body}");
    let admin: Value = serde_json::from_str(&body).unwrap();
    let admin = admin["tokens"]["accessToken"].as_str().unwrap().to_string();
    let (code, order) = json(gateway, &format!("/v1/orders/{confirmed}"), &admin).await;
    assert_eq!((code, order["order"]["status"].as_str()), (200, Some("ORDER_STATUS_CONFIRMED")), "{order}");
    let (code, order) = json(gateway, &format!("/v1/orders/{declined}"), &admin).await;
    assert_eq!(code, 200);
    assert_eq!(order["order"]["status"], "ORDER_STATUS_CANCELLED", "{order}");
    assert_eq!(order["order"]["cancellationReason"], "CANCELLATION_REASON_PAYMENT_DECLINED", "{order}");
    let (code, payments) = json(gateway, &format!("/v1/payments?orderId={declined}"), &admin).await;
    assert_eq!(code, 200);
    assert_eq!(payments["payments"][0]["status"], "PAYMENT_STATUS_FAILED", "{payments}");
    let (code, _) = json(gateway, &format!("/v1/shipments/{declined}"), &admin).await;
    assert_eq!(code, 404, "a declined order never ships");
    // The confirmed order's shipment goes on to DELIVERED, and its customer hears of each step.
    eventually(patience(Duration::from_secs(30)), "the shipment delivered", || async {
        let (_, shipment) = json(gateway, &format!("/v1/shipments/{confirmed}"), &admin).await;
        (shipment["shipment"]["status"] == "SHIPMENT_STATUS_DELIVERED").then_some(())
    })
    .await;
    let subjects = [
        format!("We have your order {confirmed}"),
        format!("Payment received for order {confirmed}"),
        format!("Order {confirmed} is on its way"),
        format!("Order {confirmed} was delivered"),
        format!("Your payment for order {declined} did not go through"),
        format!("Order {declined} is cancelled"),
    ];
    let mail_dir = shop.mail_dir.clone();
    eventually(patience(Duration::from_secs(30)), "an e-mail of each kind", || {
        let mail_dir = mail_dir.clone();
        let subjects = subjects.clone();
        async move {
            subjects
                .iter()
                .all(|subject| emails_about(&mail_dir, &format!("Subject: {subject}")).len() == 1)
                .then_some(())
        }
    })
    .await;
    let welcome = emails_about(&shop.mail_dir, "Subject: Welcome to mercato");
    assert!(welcome.len() >= 2, "the demo's shopper and the walkthrough's each welcomed: {}", welcome.len());
    drop(shop);
}

on_both_databases!(the_journey_through_the_gateway);
