//! The shipped files read as data, and the PromQL in them: every expression of the rules and
//! of the dashboard, each named by where it comes from.

use std::path::{Path, PathBuf};

use mercato_e2e::prometheus::observability_dir;
use serde_json::Value;

/// A YAML file of deploy/observability, as JSON values.
pub(crate) fn yaml(relative: &str) -> Value {
    let path = observability_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Grafana dashboard.
pub(crate) fn dashboard() -> Value {
    let path = observability_dir().join("grafana/mercato.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files of prometheus/rules ending in `suffix`, sorted.
pub(crate) fn rule_files(suffix: &str) -> Vec<PathBuf> {
    let dir = observability_dir().join("prometheus/rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *{suffix} in {}", dir.display());
    files
}

/// Every rule of every shipped rule file (`*.rules.yml`).
pub(crate) fn rules() -> Vec<Value> {
    rule_files(".rules.yml")
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let file: Value = serde_yaml::from_str(&text).unwrap();
            file["groups"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| g["rules"].as_array().unwrap().clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// An expression to evaluate, and where it comes from.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub(crate) origin: String,
    pub(crate) promql: String,
}

/// Every rule's expression: a recording rule's as written, an alert's without its thresholds
/// (see [`without_thresholds`]).
pub(crate) fn rule_exprs() -> Vec<Expr> {
    rules()
        .iter()
        .map(|rule| {
            let expr = rule["expr"].as_str().unwrap();
            match (rule["record"].as_str(), rule["alert"].as_str()) {
                (Some(record), _) => {
                    Expr { origin: format!("recording rule {record}"), promql: expr.trim().to_string() }
                }
                (_, Some(alert)) => {
                    Expr { origin: format!("alert {alert} (thresholds removed)"), promql: without_thresholds(expr) }
                }
                _ => panic!("a rule that neither records nor alerts: {rule}"),
            }
        })
        .collect()
}

/// The panels of the dashboard that are not rows (whether at the top level or inside a
/// collapsed row).
pub(crate) fn panels(dashboard: &Value) -> Vec<Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            all.extend(panel["panels"].as_array().cloned().unwrap_or_default());
        } else {
            all.push(panel.clone());
        }
    }
    all
}

/// The windows Grafana puts in for its interval variables, in a range Prometheus has data for
/// once it has scraped a few times.
pub(crate) const RATE_INTERVAL: &str = "1m";
pub(crate) const RANGE: &str = "5m";

/// Every target's expression of the dashboard with its variables as Grafana fills them in:
/// `$service` by the variable's "All" value (what the dashboard opens with), `$__rate_interval`
/// by [`RATE_INTERVAL`] and `$__range` by [`RANGE`].
pub(crate) fn dashboard_exprs() -> Vec<Expr> {
    let dashboard = dashboard();
    let service_all = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "service")
        .and_then(|v| v["allValue"].as_str())
        .expect("the service variable has an allValue")
        .to_string();
    panels(&dashboard)
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or("?").to_string();
            let service_all = service_all.clone();
            panel["targets"].as_array().cloned().unwrap_or_default().into_iter().map(move |target| {
                let promql = target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", RATE_INTERVAL)
                    .replace("$__range", RANGE)
                    .replace("${service}", &service_all)
                    .replace("$service", &service_all);
                Expr { origin: format!("panel {title:?} {}", target["refId"].as_str().unwrap_or("?")), promql }
            })
        })
        .collect()
}

/// An alert's expression without the comparisons with a number that end each operand of its
/// top-level `and` / `or` / `unless` (alerts.rules.yml writes every alert that way): what is
/// left has series on a healthy stack, where the alert itself is rightly silent. A threshold
/// removed from a traffic guard (`and on (service) requests >= 0.5`) keeps the guard's join.
pub(crate) fn without_thresholds(expr: &str) -> String {
    // One line: the rule files break long expressions over several.
    let expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut parts = Vec::new();
    let mut rest = expr.as_str();
    while let Some((operand, op, tail)) = split_set_operator(rest) {
        parts.push(strip_comparison(operand).to_string());
        parts.push(op.to_string());
        rest = tail;
    }
    parts.push(strip_comparison(rest).to_string());
    parts.join(" ")
}

/// The first `and` / `or` / `unless` outside brackets and quotes: what is before, the
/// operator, what is after.
fn split_set_operator(expr: &str) -> Option<(&str, &str, &str)> {
    let bytes = expr.as_bytes();
    let (mut depth, mut quote) = (0i32, None::<u8>);
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q && bytes.get(i.wrapping_sub(1)) != Some(&b'\\') => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'' | b'`') => quote = Some(b),
            (None, b'(' | b'[' | b'{') => depth += 1,
            (None, b')' | b']' | b'}') => depth -= 1,
            (None, _) if depth == 0 && i > 0 && bytes[i - 1].is_ascii_whitespace() => {
                for op in ["and", "or", "unless"] {
                    let end = i + op.len();
                    if expr[i..].starts_with(op) && bytes.get(end).is_some_and(|c| c.is_ascii_whitespace()) {
                        return Some((expr[..i].trim(), op, expr[end..].trim()));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// `operand` without a trailing `<op> [bool] <number>`, else as it is.
fn strip_comparison(operand: &str) -> &str {
    let trimmed = operand.trim_end();
    let number_start =
        trimmed.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '+' || c == '-')).map_or(0, |i| i + 1);
    let number = &trimmed[number_start..];
    if number.is_empty() || number.parse::<f64>().is_err() {
        return operand;
    }
    let mut before = trimmed[..number_start].trim_end();
    before = before.strip_suffix("bool").map_or(before, str::trim_end);
    for op in ["==", "!=", ">=", "<=", ">", "<"] {
        if let Some(left) = before.strip_suffix(op) {
            return left.trim_end();
        }
    }
    operand
}

/// The metric names of docs/observability.md: the first column of its tables, with the
/// `a` / `b` rows split.
pub(crate) fn contract_metrics() -> Vec<String> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/observability.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .flat_map(|cell| {
            let cell = cell.split(" |").next().unwrap_or_default();
            cell.split('`').filter(|s| !s.trim().is_empty() && !s.contains('/')).map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

/// The metric names an expression reads (ours and the standard ones), histogram suffixes
/// removed; recorded series (`level:metric:ops`) left out.
pub(crate) fn metrics_read(promql: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut current = String::new();
    let mut quote = false;
    for c in promql.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            quote = !quote;
        }
        if !quote && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            current.push(c);
            continue;
        }
        let word = std::mem::take(&mut current);
        let ours = ["mercato_", "grpc_server_", "http_server_", "process_"].iter().any(|p| word.starts_with(p));
        if ours && !word.contains(':') {
            let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| word.strip_suffix(s)).unwrap_or(&word);
            names.push(base.to_string());
        }
    }
    names
}

#[test]
fn thresholds_come_off_every_operand_of_an_alert() {
    assert_eq!(
        without_thresholds("service:errors:ratio > 0.01\nand on (service)\nservice:requests:rate5m >= 0.5"),
        "service:errors:ratio and on (service) service:requests:rate5m"
    );
    assert_eq!(
        without_thresholds("mercato_ready == 0\nor\nup{service!=\"\"} == 0"),
        "mercato_ready or up{service!=\"\"}"
    );
    assert_eq!(without_thresholds("max by (a) (x) > bool 2"), "max by (a) (x)");
    // Comparisons inside brackets, label values that look like operators, and a comparison
    // with a series rather than a number are left as they are.
    assert_eq!(
        without_thresholds(r#"sum by (s) (rate(x{code=~"a and b|c"}[5m]) > 0) unless y > z"#),
        r#"sum by (s) (rate(x{code=~"a and b|c"}[5m]) > 0) unless y > z"#
    );
    assert_eq!(
        without_thresholds("histogram_quantile(0.99, rate(h_bucket[5m])) > 1e-3"),
        "histogram_quantile(0.99, rate(h_bucket[5m]))"
    );
}

#[test]
fn the_metric_names_of_an_expression_are_found() {
    assert_eq!(
        metrics_read(
            r#"histogram_quantile(0.5, sum by (le) (rate(grpc_server_handling_seconds_bucket{a="mercato_x"}[1m]))) / service:grpc_server_requests:rate5m + up"#
        ),
        ["grpc_server_handling_seconds"]
    );
}

/// The labels docs/observability.md gives each metric (its table's third column), lists of
/// values in parentheses or after `=` left out.
pub(crate) fn contract_labels() -> std::collections::BTreeMap<String, Vec<String>> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/observability.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let mut labels = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | name | type | labels | …
        let (Some(names), Some(cell)) = (cells.get(1), cells.get(3)) else { continue };
        let mut cell = cell.to_string();
        while let (Some(open), Some(close)) = (cell.find('('), cell.find(')')) {
            if close < open {
                break;
            }
            cell.replace_range(open..=close, "");
        }
        let cell = cell.split('=').next().unwrap_or_default();
        let these: Vec<String> =
            cell.split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty() && !l.contains(' ')).collect();
        for name in names.split('`').filter(|s| !s.trim().is_empty() && !s.contains('/')) {
            labels.insert(name.to_string(), these.clone());
        }
    }
    labels
}

/// The label names an expression uses: in `by`/`without`/`on`/`ignoring`/`group_*` lists and
/// as matchers in selectors.
pub(crate) fn labels_named(promql: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = promql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &promql[i..];
        let list = ["by", "without", "on", "ignoring", "group_left", "group_right"].iter().find_map(|kw| {
            let after = rest.strip_prefix(kw)?;
            let before_ok = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
            let open = after.trim_start().strip_prefix('(')?;
            before_ok.then_some(open)
        });
        if let Some(open) = list {
            let inner = open.split(')').next().unwrap_or_default();
            names.extend(inner.split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()));
            i += rest.len() - open.len();
            continue;
        }
        if bytes[i] == b'{' {
            let inner = rest[1..].split('}').next().unwrap_or_default();
            let mut quote = false;
            let mut matcher = String::new();
            for c in inner.chars().chain(std::iter::once(',')) {
                match c {
                    '"' => quote = !quote,
                    ',' if !quote => {
                        let name: String =
                            matcher.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                        if !name.is_empty() {
                            names.push(name);
                        }
                        matcher.clear();
                    }
                    _ if !quote => matcher.push(c),
                    _ => {}
                }
            }
            i += inner.len() + 1;
            continue;
        }
        i += 1;
    }
    names
}

#[test]
fn the_labels_of_an_expression_are_found() {
    assert_eq!(
        labels_named(r#"sum by (service, le) (rate(x{grpc_method!~"Watch.*", a="b,c"}[5m])) and on (service) y"#),
        ["service", "le", "grpc_method", "a", "service"]
    );
}
