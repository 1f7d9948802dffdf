//! Mail sent to an SMTP server (a provider's submission port, or a local relay). The server's
//! answer decides: a message is delivered once the server accepted its DATA; any refusal,
//! lost connection or timeout is a failure the consumer retries, then dead-letters.

use std::time::Duration;

use async_trait::async_trait;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use super::{Outgoing, Sink, SinkError};
use crate::config::{SmtpSecurity, SmtpSettings};

#[derive(Debug)]
pub struct SmtpSink {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The server as `SmtpSettings` displays it, for log lines and errors.
    server: String,
    timeout: Duration,
}

impl SmtpSink {
    /// Fails only if TLS cannot be set up (the host is not a name a certificate can carry);
    /// nothing is connected until the first message.
    pub fn new(settings: &SmtpSettings) -> Result<Self, lettre::transport::smtp::Error> {
        let host = settings.host.as_str();
        // `from_url` knows no `smtp+starttls://` and would accept credentials in the URL, so
        // the validated settings are given to the builder directly.
        let tls = match settings.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(TlsParameters::new(host.to_string())?),
            SmtpSecurity::Tls => Tls::Wrapper(TlsParameters::new(host.to_string())?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(credentials) = &settings.credentials {
            builder = builder
                .credentials(Credentials::new(credentials.username.clone(), credentials.password.expose().clone()));
        }
        Ok(Self { transport: builder.build(), server: settings.to_string(), timeout: settings.timeout })
    }
}

#[async_trait]
impl Sink for SmtpSink {
    async fn deliver(&self, outgoing: &Outgoing) -> Result<(), SinkError> {
        let envelope = outgoing.message.envelope();
        // lettre's own timeout bounds only the TCP connect on tokio; a server that stops
        // answering mid-conversation would otherwise hold this consumer forever.
        let sent = tokio::time::timeout(self.timeout, self.transport.send_raw(envelope, &outgoing.message.formatted()))
            .await
            .map_err(|_| SinkError(format!("{}: no answer within {:?}", self.server, self.timeout)))?;
        let reply = sent.map_err(|e| SinkError(format!("{}: {e}", self.server)))?;
        let domains: Vec<&str> = envelope.to().iter().map(|a| a.domain()).collect();
        tracing::info!(
            notification_id = outgoing.id,
            to_domains = ?domains,
            server = self.server,
            reply = %reply.code(),
            "notification sent (smtp sink)"
        );
        Ok(())
    }
}
