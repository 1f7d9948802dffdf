//! The OpenTelemetry Collector config, checked as the collector would at start-up (no otelcol
//! binary is packaged here): every pipeline names components the file defines, and what the
//! issue asks of each is there.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::exprs::yaml;

fn config() -> Value {
    yaml("otel-collector.yaml")
}

/// A component id is `type` or `type/name`.
fn kind(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_pipeline_names_components_the_config_defines() {
    let config = config();
    let pipelines = config["service"]["pipelines"].as_object().expect("service.pipelines");
    assert!(!pipelines.is_empty());
    let mut used = BTreeSet::new();
    for (name, pipeline) in pipelines {
        assert!(["traces", "metrics", "logs"].contains(&kind(name)), "{name}: a traces, metrics or logs pipeline");
        for (section, required) in [("receivers", true), ("processors", false), ("exporters", true)] {
            let listed = if pipeline[section].is_null() && !required { Vec::new() } else { ids(&pipeline[section]) };
            assert!(!required || !listed.is_empty(), "pipeline {name}: no {section}");
            for id in listed {
                assert!(
                    config[section].get(&id).is_some(),
                    "pipeline {name} names {section} {id}, which is not defined"
                );
                used.insert((section, id));
            }
        }
    }
    for id in ids(&config["service"]["extensions"]) {
        assert!(config["extensions"].get(&id).is_some(), "service.extensions names {id}, which is not defined");
    }
    // A component defined and never used is a config the author thinks is live.
    for section in ["receivers", "processors", "exporters"] {
        for id in config[section].as_object().unwrap().keys() {
            assert!(used.contains(&(section, id.clone())), "{section} {id} is defined but in no pipeline");
        }
    }
}

#[test]
fn traces_come_in_over_otlp_and_leave_over_otlp_to_an_endpoint_from_the_environment() {
    let config = config();
    let otlp = &config["receivers"]["otlp"]["protocols"];
    assert!(otlp["grpc"]["endpoint"].as_str().unwrap().ends_with(":4317"), "OTLP/gRPC on 4317");
    assert!(otlp["http"]["endpoint"].as_str().unwrap().ends_with(":4318"), "OTLP/HTTP on 4318");
    let traces = &config["service"]["pipelines"]["traces"];
    assert!(ids(&traces["receivers"]).iter().any(|r| kind(r) == "otlp"));
    let exporters = ids(&traces["exporters"]);
    let otlp_out = exporters.iter().find(|e| kind(e) == "otlp").expect("an otlp exporter for traces");
    let endpoint = config["exporters"][otlp_out]["endpoint"].as_str().unwrap();
    assert!(endpoint.starts_with("${env:"), "the backend's address comes from the environment: {endpoint}");
}

#[test]
fn metrics_are_scraped_from_every_service_and_exported_to_prometheus() {
    let config = config();
    let metrics = &config["service"]["pipelines"]["metrics"];
    assert!(ids(&metrics["receivers"]).iter().any(|r| kind(r) == "prometheus"), "a prometheus receiver scrapes");
    assert!(
        ids(&metrics["exporters"]).iter().any(|e| ["prometheusremotewrite", "prometheus"].contains(&kind(e))),
        "metrics leave to a Prometheus"
    );
    // The collector scrapes what prometheus.yml scrapes, with the same `service` labels, so the
    // rules and the dashboard work on what it writes.
    let scraped = |job: &Value| -> BTreeSet<(String, String)> {
        job["static_configs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|sc| {
                let service = sc["labels"]["service"].as_str().unwrap().to_string();
                ids(&sc["targets"]).into_iter().map(move |t| (service.clone(), t))
            })
            .collect()
    };
    let collector = scraped(&config["receivers"]["prometheus"]["config"]["scrape_configs"][0]);
    let prometheus = scraped(&yaml("prometheus/prometheus.yml")["scrape_configs"][0]);
    assert_eq!(collector, prometheus);
}

#[test]
fn every_pipeline_limits_memory_first_and_batches_last() {
    let config = config();
    for (name, pipeline) in config["service"]["pipelines"].as_object().unwrap() {
        let processors = ids(&pipeline["processors"]);
        assert_eq!(processors.first().map(|p| kind(p)), Some("memory_limiter"), "{name}: memory_limiter first");
        assert_eq!(processors.last().map(|p| kind(p)), Some("batch"), "{name}: batch last");
    }
}
