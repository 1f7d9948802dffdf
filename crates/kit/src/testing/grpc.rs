//! Reading gRPC answers in tests: the fields a BadRequest names, and stream items that must
//! arrive within a deadline rather than hang the test.

use std::time::Duration;

use futures::{Stream, StreamExt};
use tonic_types::StatusExt;

use super::patience;

/// How long a test waits for a stream's next item before failing.
pub(super) const STREAM_ITEM_DEADLINE: Duration = Duration::from_secs(10);

/// The field paths of an INVALID_ARGUMENT status's BadRequest detail. Panics (the test fails)
/// if the status is anything else.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest detail in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The next item of `stream`, or a failed test if none comes within [`STREAM_ITEM_DEADLINE`]
/// (times the patience factor). `None` when the stream ended.
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    next_within(stream, STREAM_ITEM_DEADLINE).await
}

/// The next item of `stream` within `deadline` (times the patience factor), or a failed test.
pub async fn next_within<S: Stream + Unpin>(stream: &mut S, deadline: Duration) -> Option<S::Item> {
    let deadline = patience(deadline);
    match tokio::time::timeout(deadline, stream.next()).await {
        Ok(item) => item,
        Err(_) => panic!("no stream item within {deadline:?}"),
    }
}
