//! The OpenTelemetry settings, under the names every OpenTelemetry SDK reads, validated with
//! the rest of the configuration so that a bad sampler or endpoint stops the start (the SDK
//! itself would fall back silently). Export is on when an OTLP endpoint is set, and only then.

use crate::config::Problems;

/// OpenTelemetry flags. Raw strings, checked in [`TraceArgs::validate`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TraceArgs {
    /// OTLP collector base URL (http://host:port); setting it turns trace export on. For
    /// http/protobuf, /v1/traces is appended.
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_exporter_otlp_endpoint: Option<String>,

    /// OTLP URL for traces only, used as given (wins over OTEL_EXPORTER_OTLP_ENDPOINT).
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otel_exporter_otlp_traces_endpoint: Option<String>,

    /// OTLP transport: `grpc` or `http/protobuf` [default: http/protobuf, as the spec says].
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_PROTOCOL")]
    pub otel_exporter_otlp_protocol: Option<String>,

    /// OTLP transport for traces only (wins over OTEL_EXPORTER_OTLP_PROTOCOL).
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")]
    pub otel_exporter_otlp_traces_protocol: Option<String>,

    /// `otlp` or `none`; `none` keeps export off even with an endpoint set.
    #[arg(long, global = true, env = "OTEL_TRACES_EXPORTER")]
    pub otel_traces_exporter: Option<String>,

    /// `true` turns every OpenTelemetry signal off.
    #[arg(long, global = true, env = "OTEL_SDK_DISABLED")]
    pub otel_sdk_disabled: Option<String>,

    /// service.name of the exported spans [default: the binary's service name].
    #[arg(long, global = true, env = "OTEL_SERVICE_NAME")]
    pub otel_service_name: Option<String>,

    /// More resource attributes, `key=value,key=value` (deployment.environment=prod, ...).
    #[arg(long, global = true, env = "OTEL_RESOURCE_ATTRIBUTES")]
    pub otel_resource_attributes: Option<String>,

    /// always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or
    /// parentbased_traceidratio [default: parentbased_always_on].
    #[arg(long, global = true, env = "OTEL_TRACES_SAMPLER")]
    pub otel_traces_sampler: Option<String>,

    /// The ratio (0 to 1) of the *traceidratio samplers [default: 1].
    #[arg(long, global = true, env = "OTEL_TRACES_SAMPLER_ARG")]
    pub otel_traces_sampler_arg: Option<String>,
}

/// How OTLP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// Which traces are recorded. `ParentBased` follows the caller's decision when there is one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
    ParentBased(Root),
}

/// What a parent-based sampler does for a trace that starts here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Root {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

/// Where spans go.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub protocol: Protocol,
    /// The URL the exporter sends to, signal path included for HTTP.
    pub endpoint: String,
}

/// Validated trace settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceConfig {
    /// `None`: export is off, and tracing costs nothing.
    pub export: Option<Export>,
    /// `OTEL_SERVICE_NAME`, when set.
    pub service_name: Option<String>,
    pub resource: Vec<(String, String)>,
    pub sampler: Option<Sampler>,
}

impl TraceConfig {
    pub fn sampler(&self) -> Sampler {
        self.sampler.unwrap_or(Sampler::ParentBased(Root::AlwaysOn))
    }
}

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

impl TraceArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<TraceConfig> {
        let before = problems.len();
        let disabled = match self.otel_sdk_disabled.as_deref().map(str::trim) {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(other) => {
                problems.push("OTEL_SDK_DISABLED", format!("{other:?} is not a boolean: use true or false"));
                false
            }
        };
        let exporter_none = match self.otel_traces_exporter.as_deref().map(str::trim) {
            None | Some("" | "otlp") => false,
            Some("none") => true,
            Some(other) => {
                problems.push("OTEL_TRACES_EXPORTER", format!("{other:?} is not built in: use otlp or none"));
                false
            }
        };
        let protocol = self
            .otel_exporter_otlp_traces_protocol
            .as_deref()
            .map(|raw| ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raw))
            .or(self.otel_exporter_otlp_protocol.as_deref().map(|raw| ("OTEL_EXPORTER_OTLP_PROTOCOL", raw)))
            .and_then(|(setting, raw)| problems.check(setting, parse_protocol(raw)))
            .unwrap_or(Protocol::HttpProtobuf);
        let endpoint = match (&self.otel_exporter_otlp_traces_endpoint, &self.otel_exporter_otlp_endpoint) {
            (Some(url), _) if !url.trim().is_empty() => {
                problems.check(TRACES_ENDPOINT, check_url(url.trim())).map(|url| url.to_string())
            }
            (_, Some(base)) if !base.trim().is_empty() => {
                problems.check(ENDPOINT, check_url(base.trim())).map(|base| match protocol {
                    Protocol::Grpc => base.to_string(),
                    Protocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
                })
            }
            _ => None,
        };
        let resource = match &self.otel_resource_attributes {
            Some(raw) => problems.check("OTEL_RESOURCE_ATTRIBUTES", parse_attributes(raw)).unwrap_or_default(),
            None => Vec::new(),
        };
        let service_name = self.otel_service_name.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let sampler = self.otel_traces_sampler.as_deref().map(str::trim).filter(|s| !s.is_empty()).and_then(|name| {
            problems.check("OTEL_TRACES_SAMPLER", parse_sampler(name, self.otel_traces_sampler_arg.as_deref()))
        });
        if problems.len() > before {
            return None;
        }
        Some(TraceConfig {
            export: endpoint.filter(|_| !disabled && !exporter_none).map(|endpoint| Export { protocol, endpoint }),
            service_name: service_name.map(str::to_string),
            resource,
            sampler,
        })
    }
}

fn parse_protocol(raw: &str) -> Result<Protocol, String> {
    match raw.trim() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "http/json" => Err("http/json is not built in: use grpc or http/protobuf".into()),
        other => Err(format!("{other:?} is not an OTLP protocol: use grpc or http/protobuf")),
    }
}

/// An `http://host:port` URL. TLS to the collector is not built in: the usual shape is a
/// collector (agent or sidecar) next to the service, which forwards over TLS itself.
fn check_url(raw: &str) -> Result<&str, String> {
    let uri: http::Uri = raw.parse().map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{raw:?}: TLS to the collector is not built in; send to a collector next to the service over http://"
            ));
        }
        _ => return Err(format!("{raw:?} must be an http:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} names no host"));
    }
    Ok(raw)
}

/// `key=value,key=value`, values percent-decoded as the specification says.
fn parse_attributes(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut attributes = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!("{entry:?} is not key=value"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("{entry:?} has an empty key"));
        }
        attributes.push((key.to_string(), percent_decode(value.trim())?));
    }
    Ok(attributes)
}

fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3).ok_or_else(|| format!("{value:?} ends inside a %-escape"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("{value:?} has a bad %-escape"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} does not decode to UTF-8"))
}

fn parse_sampler(name: &str, arg: Option<&str>) -> Result<Sampler, String> {
    let ratio = || -> Result<f64, String> {
        let Some(raw) = arg.map(str::trim).filter(|a| !a.is_empty()) else { return Ok(1.0) };
        match raw.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(format!("OTEL_TRACES_SAMPLER_ARG {raw:?} must be a number from 0 to 1")),
        }
    };
    Ok(match name {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::Ratio(ratio()?),
        "parentbased_always_on" => Sampler::ParentBased(Root::AlwaysOn),
        "parentbased_always_off" => Sampler::ParentBased(Root::AlwaysOff),
        "parentbased_traceidratio" => Sampler::ParentBased(Root::Ratio(ratio()?)),
        other => {
            return Err(format!(
                "{other:?} is not a sampler: use always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off or parentbased_traceidratio"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(args: TraceArgs) -> Result<TraceConfig, Vec<String>> {
        let mut problems = Problems::default();
        let config = args.validate(&mut problems);
        problems.finish(config).map_err(|e| e.0.into_iter().map(|(s, p)| format!("{s}: {p}")).collect())
    }

    #[test]
    fn no_endpoint_means_no_export() {
        let config = validate(TraceArgs::default()).unwrap();
        assert_eq!(config.export, None);
        assert_eq!(config.sampler(), Sampler::ParentBased(Root::AlwaysOn));
    }

    #[test]
    fn http_appends_the_signal_path_and_grpc_takes_the_url_as_is() {
        let base =
            TraceArgs { otel_exporter_otlp_endpoint: Some("http://collector:4318/".into()), ..Default::default() };
        let export = validate(base.clone()).unwrap().export.unwrap();
        assert_eq!(
            export,
            Export { protocol: Protocol::HttpProtobuf, endpoint: "http://collector:4318/v1/traces".into() }
        );

        let grpc = TraceArgs { otel_exporter_otlp_protocol: Some("grpc".into()), ..base.clone() };
        assert_eq!(validate(grpc).unwrap().export.unwrap().endpoint, "http://collector:4318/");

        let traces = TraceArgs { otel_exporter_otlp_traces_endpoint: Some("http://other:9/x".into()), ..base.clone() };
        assert_eq!(validate(traces).unwrap().export.unwrap().endpoint, "http://other:9/x");

        for off in [
            TraceArgs { otel_sdk_disabled: Some("true".into()), ..base.clone() },
            TraceArgs { otel_traces_exporter: Some("none".into()), ..base },
        ] {
            assert_eq!(validate(off).unwrap().export, None);
        }
    }

    #[test]
    fn samplers_and_attributes_parse() {
        let args = TraceArgs {
            otel_traces_sampler: Some("parentbased_traceidratio".into()),
            otel_traces_sampler_arg: Some("0.1".into()),
            otel_resource_attributes: Some("deployment.environment=prod, team=shop%20floor".into()),
            ..Default::default()
        };
        let config = validate(args).unwrap();
        assert_eq!(config.sampler(), Sampler::ParentBased(Root::Ratio(0.1)));
        assert_eq!(
            config.resource,
            [("deployment.environment".into(), "prod".into()), ("team".into(), "shop floor".into())]
        );
    }

    #[test]
    fn every_bad_setting_is_reported_at_once() {
        let args = TraceArgs {
            otel_exporter_otlp_endpoint: Some("https://collector:4318".into()),
            otel_exporter_otlp_protocol: Some("carrier-pigeon".into()),
            otel_traces_sampler: Some("traceidratio".into()),
            otel_traces_sampler_arg: Some("1.5".into()),
            otel_resource_attributes: Some("novalue".into()),
            otel_sdk_disabled: Some("yes".into()),
            otel_traces_exporter: Some("jaeger".into()),
            ..Default::default()
        };
        let problems = validate(args).unwrap_err();
        for expected in [
            "OTEL_SDK_DISABLED",
            "OTEL_TRACES_EXPORTER",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_ENDPOINT: \"https://collector:4318\": TLS",
            "OTEL_RESOURCE_ATTRIBUTES",
            "OTEL_TRACES_SAMPLER: OTEL_TRACES_SAMPLER_ARG \"1.5\"",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(expected)), "{expected} in {problems:#?}");
        }
    }
}
