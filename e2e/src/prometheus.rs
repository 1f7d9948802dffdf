//! Debian's `prometheus` and `promtool` (`just prometheus` installs them) for the tests of what
//! deploy/observability ships: promtool over files and stdin, and a real Prometheus server on a
//! free loopback port, asked through its HTTP API.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use mercato_kit::testing::{http_get, patience};
use serde_json::Value;

/// How long Prometheus may take to answer /-/ready.
const START: Duration = Duration::from_secs(20);

/// deploy/observability of this workspace.
pub fn observability_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/observability")
}

/// `promtool args…` with `stdin` on its standard input; an error only when promtool cannot be
/// run at all (a failed check is a non-zero status in the output).
pub fn promtool(args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("promtool: {e} (Debian's prometheus package has it: `just prometheus`)"))?;
    // Written from another thread, so that neither side waits on a full pipe.
    let writer = match (stdin, child.stdin.take()) {
        (Some(text), Some(mut pipe)) => {
            let text = text.to_string();
            Some(std::thread::spawn(move || pipe.write_all(text.as_bytes())))
        }
        _ => None,
    };
    let output = child.wait_with_output()?;
    // A promtool that stopped reading (and so broke the pipe) says why in its output.
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok(output)
}

/// promtool's status and everything it printed, for an assertion message.
pub fn report(output: &Output) -> String {
    format!("{}\n{}{}", output.status, String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A Prometheus server with its own configuration and storage in a temporary folder. Dropping
/// it kills the process and waits for it, then removes the folder.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `prometheus` with `config` (JSON is YAML, so a parsed and edited configuration is
    /// written as it is) and waits for /-/ready. The port is one the kernel just handed out and
    /// released; another process taking it in between makes this try again on another.
    pub async fn start(config: &Value) -> anyhow::Result<Self> {
        let mut last = anyhow::anyhow!("not started");
        for _ in 0..3 {
            match Self::start_once(config).await {
                Ok(server) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn start_once(config: &Value) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, serde_json::to_string_pretty(config)?)?;
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("prometheus: {e} (Debian's prometheus package has it: `just prometheus`)"))?;
        let mut server = Self { child, addr, dir };
        let deadline = tokio::time::Instant::now() + patience(START);
        loop {
            if let Ok((200, _)) = http_get(addr, "/-/ready").await {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("prometheus exited ({status}):\n{}", server.log());
            }
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "prometheus not ready:\n{}", server.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server logged so far (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `/api/v1/query` at the server's current time: the result vector, or the error Prometheus
    /// gave (a query that does not parse or evaluate), as `Ok(Err(…))`; `Err` is a failure to ask.
    pub async fn query(&self, expr: &str) -> anyhow::Result<Result<Vec<Value>, String>> {
        let (code, body) = http_get(self.addr, &format!("/api/v1/query?query={}", percent_encode(expr))).await?;
        let answer: Value =
            serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("{code} from /api/v1/query: {e}: {body}"))?;
        if answer["status"] != "success" {
            return Ok(Err(format!("{}: {}", answer["errorType"].as_str().unwrap_or("?"), answer["error"])));
        }
        let data = &answer["data"];
        Ok(Ok(match data["resultType"].as_str() {
            Some("vector" | "matrix") => data["result"].as_array().cloned().unwrap_or_default(),
            // A scalar or a string is one value.
            _ => vec![data["result"].clone()],
        }))
    }

    /// The active scrape targets (`/api/v1/targets`), each with its labels and health.
    pub async fn targets(&self) -> anyhow::Result<Vec<Value>> {
        let (_, body) = http_get(self.addr, "/api/v1/targets?state=active").await?;
        let answer: Value = serde_json::from_str(&body)?;
        Ok(answer["data"]["activeTargets"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` for a URL's query string: everything but RFC 3986's unreserved characters escaped.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_escaped_whole() {
        assert_eq!(
            percent_encode(r#"rate(a{b=~"c|d"}[1m]) > 0"#),
            "rate%28a%7Bb%3D~%22c%7Cd%22%7D%5B1m%5D%29%20%3E%200"
        );
    }
}
