//! Calling an upstream method with dynamic messages: what REST transcoding and aggregation
//! share.

use std::time::Duration;

use http::{HeaderMap, HeaderName, uri::PathAndQuery};
use mercato_kit::{client::Idempotency, trace};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MethodDescriptor};
use tonic::{Status, metadata::MetadataMap, transport::Channel};

use crate::{
    transcode::{self, DynamicCodec},
    unary::UnaryClient,
};

/// Headers that travel upstream as gRPC metadata: the caller's token (services verify it
/// again and act for the user), the correlation id, and trace context.
const FORWARDED: [HeaderName; 4] = [
    http::header::AUTHORIZATION,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
];

pub fn forward_headers(headers: &HeaderMap) -> HeaderMap {
    // Room for the three the unary client adds (content-type, te, grpc-timeout): no regrowth.
    let mut forwarded = HeaderMap::with_capacity(FORWARDED.len() + 3);
    for name in FORWARDED {
        if let Some(value) = headers.get(&name) {
            forwarded.insert(name, value.clone());
        }
    }
    // Tracing on: the upstream's parent is this request's span, not the caller's.
    trace::inject_headers(&tracing::Span::current(), &mut forwarded);
    forwarded
}

pub fn forward_metadata(headers: &HeaderMap) -> MetadataMap {
    MetadataMap::from_headers(forward_headers(headers))
}

/// What HTTP says of a verb (RFC 9110 §9.2.2): GET, HEAD, PUT, DELETE and OPTIONS may be
/// repeated with no further effect; POST and PATCH may not.
pub fn idempotency_of(verb: &http::Method) -> Idempotency {
    use http::Method;
    if [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS].contains(verb) {
        Idempotency::Idempotent
    } else {
        Idempotency::NotIdempotent
    }
}

pub fn method_path(method: &MethodDescriptor) -> Result<PathAndQuery, Status> {
    transcode::grpc_path(method).map_err(|_| Status::internal("method path is not a valid URI path"))
}

fn request(message: DynamicMessage, metadata: MetadataMap) -> tonic::Request<DynamicMessage> {
    let mut request = tonic::Request::new(message);
    *request.metadata_mut() = metadata;
    request
}

async fn ready(channel: Channel) -> Result<tonic::client::Grpc<Channel>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(format!("upstream unavailable: {e}")))?;
    Ok(grpc)
}

/// A unary call of `method` at `path` (its gRPC path: a route's, parsed once, or
/// [`method_path`]).
pub async fn unary(
    client: &UnaryClient,
    path: &PathAndQuery,
    method: &MethodDescriptor,
    message: &DynamicMessage,
    headers: HeaderMap,
    timeout: Duration,
    idempotency: Idempotency,
) -> Result<DynamicMessage, Status> {
    let reply = client.call(path, headers, message.encode_to_vec().into(), timeout, idempotency).await?;
    DynamicMessage::decode(method.output(), reply)
        .map_err(|e| Status::internal(format!("cannot decode the upstream response: {e}")))
}

/// A server stream; no deadline, since watching is meant to last (the client ends it).
pub async fn server_streaming(
    channel: Channel,
    method: &MethodDescriptor,
    message: DynamicMessage,
    metadata: MetadataMap,
) -> Result<tonic::Streaming<DynamicMessage>, Status> {
    let path = method_path(method)?;
    let mut grpc = ready(channel).await?;
    let codec = DynamicCodec::new(method.output());
    Ok(grpc.server_streaming(request(message, metadata), path, codec).await?.into_inner())
}
