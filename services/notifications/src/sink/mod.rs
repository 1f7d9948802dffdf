//! The sink port: where a rendered e-mail goes. A sink either delivered the message or failed
//! for now; the consumer retries a failure with backoff and dead-letters it when exhausted.
//! A sink may see the same message twice (the process died between the sink's answer and the
//! commit that records it): each message keeps the notification's id as its Message-ID (and
//! the file sink as its file name), so a repeat is recognisably the same message.

pub mod file;
pub mod log;
pub mod smtp;

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use lettre::Message;

use crate::config::SinkChoice;

/// A message that could not be delivered now.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// A built e-mail, with what the sinks need besides its bytes.
#[derive(Debug)]
pub struct Outgoing {
    /// The notification's id.
    pub id: String,
    pub message: Message,
}

#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    async fn deliver(&self, outgoing: &Outgoing) -> Result<(), SinkError>;
}

/// The sink the configuration chose.
pub fn from_choice(choice: &SinkChoice) -> anyhow::Result<Arc<dyn Sink>> {
    Ok(match choice {
        SinkChoice::Log => Arc::new(log::LogSink),
        SinkChoice::File(folder) => Arc::new(
            file::FileSink::new(folder.clone())
                .with_context(|| format!("creating the mail folder {}", folder.display()))?,
        ),
        SinkChoice::Smtp(settings) => {
            Arc::new(smtp::SmtpSink::new(settings).with_context(|| format!("setting up the SMTP sink for {settings}"))?)
        }
    })
}
