//! The Grafana dashboard and its provisioning, checked as Grafana would load them: a recent
//! schema, the datasource and service variables, every panel reading Prometheus through the
//! variable, the rows the issue asks for, and a layout in which no panel hides another.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::exprs::{dashboard, panels, yaml};

fn variable<'a>(dashboard: &'a Value, name: &str) -> &'a Value {
    dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("a `{name}` variable"))
}

#[test]
fn the_dashboard_has_a_recent_schema_and_its_datasource_and_service_variables() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 38, "schemaVersion ≥ 38");
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()), "a stable uid for links");
    let datasource = variable(&dashboard, "datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let service = variable(&dashboard, "service");
    assert_eq!(service["type"], "query");
    assert_eq!(service["datasource"]["uid"], "${datasource}");
    assert!(service["definition"].as_str().unwrap().contains("service"), "{service}");
    assert_eq!(service["includeAll"], true);
    assert_eq!(service["multi"], true);
    assert!(service["allValue"].as_str().is_some_and(|v| !v.is_empty()), "an explicit All value for =~ matchers");
}

#[test]
fn every_panel_reads_prometheus_through_the_datasource_variable() {
    let dashboard = dashboard();
    let panels = panels(&dashboard);
    assert!(panels.len() > 30, "{} panels", panels.len());
    for panel in &panels {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a title: {panel}");
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("{title}: targets"));
        assert!(!targets.is_empty(), "{title}: at least one target");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert!(target["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{title}: an expr");
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            assert!(refs.insert(target["refId"].as_str().unwrap().to_string()), "{title}: refIds differ");
        }
    }
}

#[test]
fn the_dashboard_has_a_row_per_service_and_the_gateway_checkout_events_and_runtime_rows() {
    let dashboard = dashboard();
    let rows: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().filter(|p| p["type"] == "row").collect();
    let per_service = rows.iter().find(|r| r["repeat"] == "service").expect("a row repeated for each service");
    assert!(per_service["title"].as_str().unwrap().contains("$service"), "titled by its service");
    let titles: Vec<&str> = rows.iter().map(|r| r["title"].as_str().unwrap()).collect();
    for title in ["Gateway", "Checkout", "Events", "Runtime"] {
        assert!(titles.contains(&title), "a {title} row: {titles:?}");
    }
    // What each row is for, by the metrics its panels read.
    let row_exprs = |title: &str| -> String {
        let all = dashboard["panels"].as_array().unwrap();
        let start = all.iter().position(|p| p["type"] == "row" && p["title"] == title).unwrap();
        all[start + 1..]
            .iter()
            .take_while(|p| p["type"] != "row")
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .map(|t| t["expr"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let service_row = row_exprs(per_service["title"].as_str().unwrap());
    for metric in ["grpc_server_handled_total", "grpc_server_handling_seconds_bucket", "$service"] {
        assert!(service_row.contains(metric), "the per-service row reads {metric}");
    }
    for (row, metrics) in [
        (
            "Gateway",
            &["http_server_requests_total", "http_server_request_duration_seconds_bucket", "route", "status"][..],
        ),
        (
            "Checkout",
            &[
                "mercato_orders_placed_total",
                "mercato_orders_confirmed_total",
                "mercato_orders_cancelled_total",
                "mercato_revenue_total",
                "mercato_checkout_time_to_confirmed_seconds_bucket",
                "mercato_payment_declines_total",
                "mercato_notifications_sent_total",
                "mercato_shipments_dispatched_total",
            ][..],
        ),
        (
            "Events",
            &[
                "mercato_outbox_backlog",
                "mercato_outbox_oldest_unsent_age_seconds",
                "mercato_consumer_pending_messages",
                "mercato_consumer_ack_pending_messages",
                "mercato_consumer_redeliveries_total",
                "mercato_dlq_messages",
            ][..],
        ),
        (
            "Runtime",
            &[
                "process_resident_memory_bytes",
                "process_cpu_seconds_total",
                "process_open_fds",
                "mercato_runtime_alive_tasks",
                "mercato_db_pool_connections",
            ][..],
        ),
    ] {
        let exprs = row_exprs(row);
        for metric in metrics {
            assert!(exprs.contains(metric), "the {row} row reads {metric}");
        }
    }
}

#[test]
fn panels_have_unique_ids_and_do_not_overlap() {
    let dashboard = dashboard();
    let all = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut boxes = Vec::new();
    for panel in all {
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "id {} twice", panel["id"]);
        let g = &panel["gridPos"];
        let [x, y, w, h] =
            ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap_or_else(|| panic!("gridPos.{k}: {panel}")));
        assert!(x + w <= 24 && w > 0 && h > 0, "{}: within the 24 columns", panel["title"]);
        boxes.push((panel["title"].as_str().unwrap().to_string(), x, y, w, h));
    }
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let apart = a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1 || a.2 + a.4 <= b.2 || b.2 + b.4 <= a.2;
            assert!(apart, "{:?} and {:?} overlap", a.0, b.0);
        }
    }
}

#[test]
fn grafana_provisioning_gives_a_prometheus_datasource_and_loads_the_dashboard_folder() {
    let datasources = yaml("grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(datasources["apiVersion"], 1);
    let prometheus = &datasources["datasources"][0];
    assert_eq!(prometheus["type"], "prometheus");
    assert!(prometheus["url"].as_str().unwrap().starts_with("http"), "{prometheus}");
    let dashboards = yaml("grafana/provisioning/dashboards/mercato.yml");
    assert_eq!(dashboards["apiVersion"], 1);
    let provider = &dashboards["providers"][0];
    assert_eq!(provider["type"], "file");
    assert!(provider["options"]["path"].as_str().is_some_and(|p| p.starts_with('/')), "{provider}");
}
