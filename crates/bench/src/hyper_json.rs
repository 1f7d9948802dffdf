//! A bare hyper 1 HTTP/1.1 server: no framework, no middleware, no routing. Every GET gets the
//! same JSON body, a real `GET /v1/products/{id}` response of the gateway, so the gateway's REST
//! throughput can be read against the most this machine and hyper can do.

use std::{convert::Infallible, net::SocketAddr, pin::pin, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The gateway's answer to `GET /v1/products/364dc957-51ca-4f13-889e-665df2d6633f` after
/// `catalog seed`, byte for byte (562 bytes; `bench` warns when the real one drifts far from it).
pub const PRODUCT_JSON: &str = concat!(
    r#"{"product":{"categoryIds":["coffee"],"createTime":"2026-11-22T00:50:40.074372Z","#,
    r#""description":"Light roast single-origin coffee from the Gedeo zone with notes of bergamot, jasmine and lemon. "#,
    r#"Washed process, 340 g (12 oz) resealable bag.","id":"364dc957-51ca-4f13-889e-665df2d6633f","#,
    r#""imageUrl":"https://images.mercato.example/products/cof-0001.jpg","#,
    r#""name":"Ethiopia Yirgacheffe Whole Bean Coffee","#,
    r#""price":{"currencyCode":"USD","nanos":500000000,"units":"16"},"sku":"COF-0001","#,
    r#""stock":{"available":"142","onHand":"142"},"#,
    r#""updateTime":"2026-11-22T00:50:40.074372Z"}}"#,
);

/// Binds `addr` (port 0 picks one), calls `on_bound` with the bound address, then serves until
/// `shutdown` resolves. Connections still open then are dropped.
pub async fn serve(
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    let body = Bytes::from_static(PRODUCT_JSON.as_bytes());
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    eprintln!("hyper-json: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Same socket option as the gateway, so the comparison is about the stack above it.
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let response = respond(req.method(), body.clone());
                async move { Ok::<_, Infallible>(response) }
            });
            // A client hanging up mid-request is its own business.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// GET: 200 with the JSON body; anything else: 405.
fn respond(method: &Method, body: Bytes) -> Response<Full<Bytes>> {
    if method == Method::GET {
        let mut response = Response::new(Full::new(body));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    } else {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cli::SEEDED_PRODUCT_ID, fetch};

    #[test]
    fn the_body_is_a_get_product_response() {
        let json: serde_json::Value = serde_json::from_str(PRODUCT_JSON).unwrap();
        assert_eq!(json["product"]["id"], SEEDED_PRODUCT_ID);
        assert!(json["product"]["name"].is_string());
    }

    #[tokio::test]
    async fn every_get_gets_the_body() {
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            move |addr| {
                let _ = bound_tx.send(addr);
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        let addr = bound_rx.await.unwrap();
        for path in ["/", "/v1/products/anything"] {
            let (status, body) = fetch::get(addr, path).await.unwrap();
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, PRODUCT_JSON.as_bytes());
        }
        stop_tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
