//! One plain HTTP/1.1 GET, to check a REST target answers before loading it.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, client::conn::http1, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The longest one GET may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET http://{addr}{path}`: the status and the whole body.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    tokio::time::timeout(TIMEOUT, get_now(addr, path))
        .await
        .with_context(|| format!("GET http://{addr}{path}: no answer within {TIMEOUT:?}"))?
        .with_context(|| format!("GET http://{addr}{path}"))
}

async fn get_now(addr: SocketAddr, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    let stream = TcpStream::connect(addr).await.context("connecting")?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .header(header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    driver.abort();
    Ok((status, body))
}
