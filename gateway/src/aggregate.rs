//! Request aggregation: one edge request fanned out to several upstream calls at once, merged
//! into one JSON object. A part that fails or is slower than its budget is left out (and named
//! in `degraded`) rather than failing the whole response: a home page without recommendations
//! beats an error page.

use std::{fmt, sync::Arc, time::Duration};

use futures::future::{BoxFuture, join_all};
use http::HeaderMap;
use mercato_kit::client::Idempotency;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use serde_json::{Map, Value};
use tonic::Status;

use crate::{unary::UnaryClient, upstream};

/// One named part of an aggregate.
pub struct Part {
    pub name: &'static str,
    pub fetch: BoxFuture<'static, Result<Value, Status>>,
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Runs every part concurrently, each within `budget`. Returns the parts that arrived and
/// the names of those left out.
pub async fn gather(parts: Vec<Part>, budget: Duration) -> (Map<String, Value>, Vec<&'static str>) {
    let outcomes = join_all(parts.into_iter().map(|part| async move {
        let outcome = match tokio::time::timeout(budget, part.fetch).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
            Err(_) => Err(format!("no answer within {budget:?}")),
        };
        (part.name, outcome)
    }))
    .await;
    let mut merged = Map::new();
    let mut degraded = Vec::new();
    for (name, outcome) in outcomes {
        match outcome {
            Ok(value) => {
                merged.insert(name.to_string(), value);
            }
            Err(reason) => {
                tracing::warn!(part = name, %reason, "aggregate part left out");
                degraded.push(name);
            }
        }
    }
    (merged, degraded)
}

/// Where a part's call goes and with what.
pub struct Target<'a> {
    pub pool: &'a DescriptorPool,
    pub client: Option<Arc<UnaryClient>>,
    pub headers: HeaderMap,
    pub budget: Duration,
}

/// The headers carry the caller's `Authorization`: only their names are shown.
impl fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("client", &self.client)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// A part that calls `method` (full name, e.g. `mercato.catalog.v1.CatalogService.ListCategories`)
/// with `request` (canonical JSON) and picks `field` of the reply (or the whole reply).
pub fn call(target: Target<'_>, name: &'static str, method: &str, request: Value, field: Option<&'static str>) -> Part {
    let Target { pool, client, headers, budget } = target;
    let method: Option<MethodDescriptor> =
        pool.get_service_by_name(method.rsplit_once('.').map_or("", |(s, _)| s)).and_then(|s| {
            let name = method.rsplit_once('.').map_or("", |(_, m)| m);
            s.methods().find(|m| m.name() == name)
        });
    let fetch = async move {
        let method = method.ok_or_else(|| Status::internal("aggregate names an unknown method"))?;
        let client = client.ok_or_else(|| Status::unavailable("no upstream for this part"))?;
        let message = DynamicMessage::deserialize(method.input(), request)
            .map_err(|e| Status::internal(format!("aggregate request does not fit: {e}")))?;
        let path = upstream::method_path(&method)?;
        // Every part is a read.
        let reply =
            upstream::unary(&client, &path, &method, &message, headers, budget, Idempotency::Idempotent).await?;
        let mut json = serde_json::to_value(&reply).map_err(|e| Status::internal(format!("rendering: {e}")))?;
        Ok(match field {
            Some(field) => json.get_mut(field).map(Value::take).unwrap_or(Value::Array(Vec::new())),
            None => json,
        })
    };
    Part { name, fetch: Box::pin(fetch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slow_and_failing_parts_are_left_out_not_fatal() {
        let parts = vec![
            Part { name: "fast", fetch: Box::pin(async { Ok(Value::from(1)) }) },
            Part { name: "broken", fetch: Box::pin(async { Err(Status::unavailable("down")) }) },
            Part {
                name: "slow",
                fetch: Box::pin(async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(Value::from(3))
                }),
            },
        ];
        tokio::time::pause();
        let (merged, degraded) = gather(parts, Duration::from_millis(50)).await;
        assert_eq!(merged.get("fast"), Some(&Value::from(1)));
        assert_eq!(merged.len(), 1);
        assert_eq!(degraded, ["broken", "slow"]);
    }
}
