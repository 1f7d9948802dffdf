//! promtool over the shipped Prometheus files: both scrape configs, the rules, the rules' unit
//! tests; and the checks promtool cannot make: that every alert has a unit test that fires it
//! and one that keeps it silent, that each carries what an on-call person needs, and that every
//! metric and label the rules and the dashboard read is in the contract (docs/observability.md).

use std::collections::BTreeSet;

use mercato_e2e::prometheus::{observability_dir, promtool, report};
use serde_json::{Value, json};

use crate::exprs::{
    Expr, contract_labels, contract_metrics, dashboard_exprs, labels_named, metrics_read, rule_exprs, rule_files,
    rules, yaml,
};

fn path(relative: &str) -> String {
    observability_dir().join(relative).to_str().unwrap().to_string()
}

#[test]
fn the_just_dev_scrape_config_passes_promtool_check_config() {
    let output = promtool(&["check", "config", &path("prometheus/prometheus.yml")], None).unwrap();
    assert!(output.status.success(), "{}", report(&output));
}

#[test]
fn the_just_dev_scrape_config_has_every_admin_port_of_dev_sh_with_its_service() {
    // deploy/local/dev.sh: services=(identity:50051:9081 … gateway:8080:9080)
    let dev = std::fs::read_to_string(observability_dir().join("../local/dev.sh")).unwrap();
    let (_, list) = dev.split_once("services=(").unwrap();
    let (list, _) = list.split_once(')').unwrap();
    let expected: BTreeSet<(String, String)> = list
        .split_whitespace()
        .map(|entry| {
            let parts: Vec<&str> = entry.split(':').collect();
            (parts[0].to_string(), format!("127.0.0.1:{}", parts[2]))
        })
        .collect();
    assert_eq!(expected.len(), 7, "{list}");
    let config = yaml("prometheus/prometheus.yml");
    let scraped: BTreeSet<(String, String)> = config["scrape_configs"][0]["static_configs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|sc| {
            let service = sc["labels"]["service"].as_str().unwrap().to_string();
            sc["targets"].as_array().unwrap().iter().map(move |t| (service.clone(), t.as_str().unwrap().to_string()))
        })
        .collect();
    assert_eq!(scraped, expected);
}

/// kubernetes.yml with its pod discovery swapped for static targets carrying the `__meta_*`
/// labels that discovery would give two pods, the rest (relabelling, rules) as shipped:
/// an orders pod that asks to be scraped on 9083 and a catalog pod that does not.
fn kubernetes_with_synthetic_pods(rules_dir: &str) -> Value {
    let mut config = yaml("prometheus/kubernetes.yml");
    let job = &mut config["scrape_configs"][0];
    assert_eq!(job["kubernetes_sd_configs"][0]["role"], "pod", "pods are discovered");
    job.as_object_mut().unwrap().remove("kubernetes_sd_configs");
    job["static_configs"] = json!([
        {"targets": ["127.0.0.2:50053"], "labels": {
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
            "__meta_kubernetes_pod_annotation_prometheus_io_port": "9083",
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": "orders",
            "__meta_kubernetes_pod_label_app": "mercato",
            "__meta_kubernetes_namespace": "shop",
            "__meta_kubernetes_pod_name": "orders-6d9f7c-x2x7p"}},
        {"targets": ["127.0.0.3:50052"], "labels": {
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_label_app": "catalog",
            "__meta_kubernetes_namespace": "shop",
            "__meta_kubernetes_pod_name": "catalog-5b8c4-q9l2m"}},
        {"targets": ["127.0.0.4:50054"], "labels": {
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
            "__meta_kubernetes_pod_annotation_prometheus_io_port": "9084",
            "__meta_kubernetes_pod_phase": "Pending",
            "__meta_kubernetes_pod_label_app": "payments",
            "__meta_kubernetes_namespace": "shop",
            "__meta_kubernetes_pod_name": "payments-7f6d5-k3j4h"}},
    ]);
    let patterns: Vec<Value> = config["rule_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!(format!("{rules_dir}/{}", p.as_str().unwrap().trim_start_matches("rules/"))))
        .collect();
    config["rule_files"] = Value::Array(patterns);
    config
}

#[test]
fn the_kubernetes_scrape_config_passes_promtool_check_config() {
    let shipped = path("prometheus/kubernetes.yml");
    let output = promtool(&["check", "config", &shipped], None).unwrap();
    let text = report(&output);
    // Debian's prometheus is built without Kubernetes discovery (its Go dependencies are not
    // packaged): that promtool refuses the one field it does not know, and only that. The rest
    // of the file is checked with the discovery block swapped for static targets.
    assert!(
        output.status.success() || text.contains("field kubernetes_sd_configs not found"),
        "kubernetes.yml: {text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kubernetes.yml");
    let config = kubernetes_with_synthetic_pods(&path("prometheus/rules"));
    std::fs::write(&copy, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let output = promtool(&["check", "config", copy.to_str().unwrap()], None).unwrap();
    assert!(output.status.success(), "{}", report(&output));
}

#[test]
fn kubernetes_relabelling_scrapes_annotated_running_pods_on_their_admin_port_as_their_service() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kubernetes.yml");
    let config = kubernetes_with_synthetic_pods(&path("prometheus/rules"));
    std::fs::write(&copy, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let output =
        promtool(&["check", "service-discovery", "--timeout=2s", copy.to_str().unwrap(), "mercato"], None).unwrap();
    assert!(output.status.success(), "{}", report(&output));
    let found: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    // One entry per discovered target; the ones relabelling dropped have no labels left.
    let kept: Vec<&Value> =
        found.iter().map(|t| &t["labels"]).filter(|l| l.as_object().is_some_and(|l| !l.is_empty())).collect();
    assert_eq!(kept.len(), 1, "only the running pod that asked is scraped: {found:#?}");
    let labels = kept[0];
    assert_eq!(labels["__address__"], "127.0.0.2:9083", "its admin port, from the annotation");
    assert_eq!(labels["__metrics_path__"], "/metrics");
    assert_eq!(labels["service"], "orders", "app.kubernetes.io/name wins over app");
    assert_eq!(labels["namespace"], "shop");
    assert_eq!(labels["pod"], "orders-6d9f7c-x2x7p");
}

#[test]
fn the_rules_pass_promtool_check_rules() {
    let files: Vec<String> = rule_files(".rules.yml").iter().map(|p| p.to_str().unwrap().to_string()).collect();
    let args: Vec<&str> = ["check", "rules"].into_iter().chain(files.iter().map(String::as_str)).collect();
    let output = promtool(&args, None).unwrap();
    assert!(output.status.success(), "{}", report(&output));
}

#[test]
fn the_rules_unit_tests_pass_promtool_test_rules() {
    for file in rule_files(".test.yml") {
        let output = promtool(&["test", "rules", file.to_str().unwrap()], None).unwrap();
        assert!(output.status.success(), "{}: {}", file.display(), report(&output));
    }
}

#[test]
fn every_alert_has_a_unit_test_that_fires_it_and_one_that_keeps_it_silent() {
    let alerts: BTreeSet<String> = rules().iter().filter_map(|r| r["alert"].as_str().map(String::from)).collect();
    let (mut fired, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for file in rule_files(".test.yml") {
        let tests: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for test in tests["tests"].as_array().unwrap() {
            for case in test["alert_rule_test"].as_array().cloned().unwrap_or_default() {
                let name = case["alertname"].as_str().unwrap().to_string();
                let expected = case["exp_alerts"].as_array().map_or(0, Vec::len);
                let seen = if expected > 0 { &mut fired } else { &mut silent };
                seen.insert(name);
            }
        }
    }
    let never_fired: Vec<_> = alerts.difference(&fired).collect();
    let never_silent: Vec<_> = alerts.difference(&silent).collect();
    assert!(never_fired.is_empty(), "alerts no unit test fires: {never_fired:?}");
    assert!(never_silent.is_empty(), "alerts no unit test keeps silent: {never_silent:?}");
}

#[test]
fn every_alert_waits_has_a_severity_and_says_what_and_where_to_look() {
    for rule in rules().iter().filter(|r| r["alert"].is_string()) {
        let name = &rule["alert"];
        assert!(rule["for"].as_str().is_some_and(|f| f != "0s" && f != "0m"), "{name}: a `for:`");
        assert!(
            matches!(rule["labels"]["severity"].as_str(), Some("critical" | "warning")),
            "{name}: severity critical or warning"
        );
        for annotation in ["summary", "description", "runbook"] {
            assert!(
                rule["annotations"][annotation].as_str().is_some_and(|a| !a.trim().is_empty()),
                "{name}: a {annotation} annotation"
            );
        }
    }
}

/// Every expression of the dashboard and the rules, as a recording rule of a temporary file.
fn as_rule_file(exprs: &[Expr]) -> Value {
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"record": format!("check:expr_{i}:parses"), "expr": e.promql}))
        .collect();
    json!({"groups": [{"name": "every expression", "rules": rules}]})
}

#[test]
fn every_expression_of_the_dashboard_and_the_rules_parses_as_promql() {
    let exprs: Vec<Expr> = dashboard_exprs().into_iter().chain(rule_exprs()).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exprs.rules.yml");
    std::fs::write(&file, serde_json::to_string_pretty(&as_rule_file(&exprs)).unwrap()).unwrap();
    let output = promtool(&["check", "rules", file.to_str().unwrap()], None).unwrap();
    assert!(output.status.success(), "{}\n{exprs:#?}", report(&output));
}

#[test]
fn every_metric_and_label_read_by_the_rules_and_the_dashboard_is_in_the_contract() {
    let metrics: BTreeSet<String> = contract_metrics().into_iter().chain(["up".to_string()]).collect();
    assert!(metrics.len() > 40, "the contract's tables were read: {metrics:?}");
    let labels = contract_labels();
    // Labels every series has from its scrape (`service` from the scrape configs, `namespace`
    // and `pod` on Kubernetes; the recording rules keep `service`), and histograms' `le`.
    let target: BTreeSet<&str> = ["service", "instance", "job", "namespace", "pod", "le"].into();
    let mut wrong = Vec::new();
    for expr in dashboard_exprs().into_iter().chain(rule_exprs()) {
        let read = metrics_read(&expr.promql);
        for metric in &read {
            if !metrics.contains(metric) {
                wrong.push(format!("{}: {metric} is not in docs/observability.md", expr.origin));
            }
        }
        let allowed: BTreeSet<&str> = read
            .iter()
            .flat_map(|m| labels.get(m).into_iter().flatten().map(String::as_str))
            .chain(target.iter().copied())
            .collect();
        for label in labels_named(&expr.promql) {
            if !allowed.contains(label.as_str()) {
                wrong.push(format!("{}: label {label} is not one of {read:?}'s", expr.origin));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
