//! GET /v1/home: the signed-in user's profile (identity) with featured products and the
//! categories (catalog), fetched at once through the aggregation mechanism. Anonymous callers
//! get the catalog parts only.

use std::{sync::Arc, time::Duration};

use axum::{body::Body, extract::State};
use http::{Request, Response, StatusCode};
use mercato_kit::auth::Caller;
use serde_json::{Value, json};

use crate::{
    aggregate::{self, Target},
    mesh::Mesh,
    rest::json_response,
    upstream::forward_headers,
};

#[derive(Debug)]
pub struct Home {
    pub mesh: Arc<Mesh>,
    pub budget: Duration,
}

/// How many products the home page features.
const FEATURED: i32 = 8;

pub async fn handle(State(home): State<Arc<Home>>, req: Request<Body>) -> Response<Body> {
    let mesh = &home.mesh;
    let headers = forward_headers(req.headers());
    let catalog = mesh.unary_context("catalog");
    let target = |client| Target { pool: mesh.pool(), client, headers: headers.clone(), budget: home.budget };
    let mut parts = vec![
        aggregate::call(
            target(catalog.clone()),
            "featuredProducts",
            "mercato.catalog.v1.CatalogService.ListProducts",
            json!({"pageSize": FEATURED}),
            Some("products"),
        ),
        aggregate::call(
            target(catalog),
            "categories",
            "mercato.catalog.v1.CatalogService.ListCategories",
            json!({}),
            Some("categories"),
        ),
    ];
    if req.extensions().get::<Caller>().is_some() {
        parts.push(aggregate::call(
            target(mesh.unary_context("identity")),
            "user",
            "mercato.identity.v1.IdentityService.GetMe",
            json!({}),
            Some("user"),
        ));
    }
    let (mut merged, degraded) = aggregate::gather(parts, home.budget).await;
    merged.insert("degraded".into(), Value::from(degraded));
    json_response(StatusCode::OK, Value::Object(merged).to_string().into_bytes())
}
