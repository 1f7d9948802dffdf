//! gRPC status → HTTP: the status code as grpc-gateway v2 maps it, and the body as the JSON of a
//! `google.rpc.Status` with its details rendered as JSON `Any`s.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mercato::google::rpc::Status as RpcStatus;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use serde_json::json;

use super::json;

/// The HTTP status for a gRPC code, as grpc-gateway v2 chooses it.
pub fn http_status(code: tonic::Code) -> http::StatusCode {
    use http::StatusCode as H;
    use tonic::Code as C;
    match code {
        C::Ok => H::OK,
        C::InvalidArgument | C::FailedPrecondition | C::OutOfRange => H::BAD_REQUEST,
        C::Unauthenticated => H::UNAUTHORIZED,
        C::PermissionDenied => H::FORBIDDEN,
        C::NotFound => H::NOT_FOUND,
        C::AlreadyExists | C::Aborted => H::CONFLICT,
        C::ResourceExhausted => H::TOO_MANY_REQUESTS,
        // 499 is nginx's "client closed request": there is no standard code for it.
        C::Cancelled => H::from_u16(499).unwrap_or(H::BAD_REQUEST),
        C::Unimplemented => H::NOT_IMPLEMENTED,
        C::Unavailable => H::SERVICE_UNAVAILABLE,
        C::DeadlineExceeded => H::GATEWAY_TIMEOUT,
        C::Unknown | C::Internal | C::DataLoss => H::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON error body: `{"code", "message", "details"}` as a `google.rpc.Status` renders.
/// Code and message come from `status` itself (the details' copies could disagree); each detail
/// is resolved in `pool`, and one that cannot be is passed on as base64 rather than dropped.
pub fn error_json(pool: &DescriptorPool, status: &tonic::Status) -> Vec<u8> {
    let details: Vec<serde_json::Value> = match RpcStatus::decode(status.details()) {
        Ok(rich) => rich.details.iter().map(|any| detail_json(pool, any)).collect(),
        Err(_) => Vec::new(),
    };
    let body = json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": details,
    });
    serde_json::to_vec(&body).unwrap_or_else(|_| br#"{"code":13,"message":"internal error","details":[]}"#.to_vec())
}

fn detail_json(pool: &DescriptorPool, any: &prost_types::Any) -> serde_json::Value {
    resolved_any(pool, any).unwrap_or_else(|| {
        json!({
            "@type": any.type_url,
            "value": STANDARD.encode(&any.value),
        })
    })
}

/// Renders through a dynamic `google.protobuf.Any`, so well-known payloads get their special
/// JSON forms (`{"@type": ..., "value": "1.5s"}`) exactly as the mapping specifies.
fn resolved_any(pool: &DescriptorPool, any: &prost_types::Any) -> Option<serde_json::Value> {
    let name = any.type_url.rsplit_once('/').map_or(any.type_url.as_str(), |(_, n)| n);
    let payload = pool.get_message_by_name(name)?;
    // Decoding first turns a corrupt payload into the base64 fallback instead of an error.
    DynamicMessage::decode(payload, any.value.as_slice()).ok()?;
    let any_desc = pool.get_message_by_name("google.protobuf.Any")?;
    let mut message = DynamicMessage::new(any_desc.clone());
    message.try_set_field(&any_desc.get_field_by_name("type_url")?, Value::String(any.type_url.clone())).ok()?;
    message.try_set_field(&any_desc.get_field_by_name("value")?, Value::Bytes(any.value.clone().into())).ok()?;
    json::to_value(&message).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tonic::Code;
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;
    use crate::transcode::testing::pool;

    #[test]
    fn maps_codes_like_grpc_gateway() {
        let cases = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, want) in cases {
            assert_eq!(http_status(code).as_u16(), want, "{code:?}");
        }
    }

    fn parse(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn renders_bad_request_details_as_json_any() {
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "bad sku",
            ErrorDetails::with_bad_request_violation("product.sku", "must be 1-64 characters"),
        );
        assert_eq!(
            parse(&error_json(&pool(), &status)),
            json!({
                "code": 3,
                "message": "bad sku",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "product.sku", "description": "must be 1-64 characters"}],
                }],
            })
        );
    }

    #[test]
    fn renders_several_details_including_well_known_fields() {
        let mut details = ErrorDetails::with_retry_info(Some(std::time::Duration::from_millis(1500)));
        details.set_error_info("RATE_LIMITED", "mercato.example", [("limit".to_owned(), "10".to_owned())]);
        let status = tonic::Status::with_error_details(Code::ResourceExhausted, "slow down", details);
        let body = parse(&error_json(&pool(), &status));
        assert_eq!(body["code"], 8);
        let details = body["details"].as_array().unwrap();
        assert!(
            details.contains(&json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.500s"}))
        );
        assert!(details.contains(&json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMITED",
            "domain": "mercato.example",
            "metadata": {"limit": "10"},
        })));
    }

    #[test]
    fn unknown_or_corrupt_details_fall_back_to_base64() {
        let rich = RpcStatus {
            code: 13,
            message: String::new(),
            details: vec![
                prost_types::Any { type_url: "type.googleapis.com/acme.Secret".into(), value: vec![1, 2, 3] },
                prost_types::Any { type_url: "type.googleapis.com/google.rpc.BadRequest".into(), value: vec![0xff] },
            ],
        };
        let status = tonic::Status::with_details(Code::Internal, "boom", rich.encode_to_vec().into());
        assert_eq!(
            parse(&error_json(&pool(), &status)),
            json!({
                "code": 13,
                "message": "boom",
                "details": [
                    {"@type": "type.googleapis.com/acme.Secret", "value": "AQID"},
                    {"@type": "type.googleapis.com/google.rpc.BadRequest", "value": "/w=="},
                ],
            })
        );
    }

    #[test]
    fn a_plain_status_has_empty_details() {
        let status = tonic::Status::not_found("no such order");
        assert_eq!(parse(&error_json(&pool(), &status)), json!({"code": 5, "message": "no such order", "details": []}));
        let garbage = tonic::Status::with_details(Code::NotFound, "x", vec![0xff, 0xff].into());
        assert_eq!(parse(&error_json(&pool(), &garbage))["details"], json!([]));
    }

    fn type_url() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("type.googleapis.com/google.rpc.BadRequest".to_owned()),
            Just("type.googleapis.com/google.rpc.RetryInfo".to_owned()),
            Just("type.googleapis.com/google.protobuf.Duration".to_owned()),
            Just("type.googleapis.com/google.protobuf.Timestamp".to_owned()),
            Just("type.googleapis.com/google.protobuf.Any".to_owned()),
            Just("type.googleapis.com/mercato.catalog.v1.Product".to_owned()),
            "\\PC{0,24}",
        ]
    }

    proptest! {
        #[test]
        fn error_json_always_renders_valid_json(
            code in 0i32..20,
            message in "\\PC{0,32}",
            raw in prop::collection::vec(any::<u8>(), 0..64),
            details in prop::collection::vec((type_url(), prop::collection::vec(any::<u8>(), 0..48)), 0..4),
        ) {
            let rich = RpcStatus {
                code,
                message: message.clone(),
                details: details.into_iter().map(|(type_url, value)| prost_types::Any { type_url, value }).collect(),
            };
            for bytes in [raw, rich.encode_to_vec()] {
                let status = tonic::Status::with_details(Code::from(code), message.clone(), bytes.into());
                let body: serde_json::Value = serde_json::from_slice(&error_json(&pool(), &status)).unwrap();
                prop_assert_eq!(&body["message"], &json!(message));
                prop_assert!(body["details"].is_array());
            }
        }
    }
}
