//! Operating dead letters, as every service binary's `dlq` subcommand: list them, show one,
//! replay them through the consumer that gave up (once the cause is fixed), or purge them.
//!
//! A replay publishes the original message again on its original subject with a fresh
//! `Nats-Msg-Id` and `Mercato-Replay-For: <consumer>`: the consumer that dead-lettered it
//! handles it (once — `processed_events` still applies), every other consumer of the subject
//! acks it unseen. The dead letter is deleted once the replay is stored.

use std::io::Write;

use async_nats::{
    HeaderMap,
    jetstream::{message::PublishMessage, stream::Stream},
};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Broker, DLQ_STREAM, headers};

/// What `<service> dlq` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DlqCommand {
    /// List this service's dead letters, oldest first.
    List {
        /// One JSON object per dead letter instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter (by sequence): every header and the payload, decoded.
    Show {
        sequence: u64,
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back through the consumer that gave up on them.
    Replay {
        /// The dead letter to replay (see `list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        sequence: Option<u64>,
        /// Every dead letter of this service.
        #[arg(long)]
        all: bool,
    },
    /// Delete dead letters without replaying them.
    Purge {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        sequence: Option<u64>,
        #[arg(long)]
        all: bool,
    },
}

/// One dead letter as stored.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub sequence: u64,
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: bytes::Bytes,
}

impl DeadLetter {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.as_str())
    }

    fn summary(&self) -> Value {
        json!({
            "sequence": self.sequence,
            "consumer": self.header(headers::DLQ_CONSUMER),
            "type": self.header(headers::EVENT_TYPE),
            "event_id": self.header(headers::EVENT_ID),
            "attempts": self.header(headers::DLQ_ATTEMPTS).and_then(|a| a.parse::<u64>().ok()),
            "failed_at": self.header(headers::DLQ_FAILED_AT),
            "subject": self.header(headers::DLQ_SUBJECT),
            "error": self.header(headers::DLQ_ERROR),
        })
    }
}

fn filter(service: &str) -> String {
    format!("dlq.{service}.>")
}

async fn dlq_stream(broker: &Broker) -> anyhow::Result<Stream> {
    broker.ensure_stream(DLQ_STREAM).await?;
    Ok(broker.jetstream().get_stream(DLQ_STREAM.name).await?)
}

/// Every dead letter of `broker`'s service, oldest first.
pub async fn list(broker: &Broker) -> anyhow::Result<Vec<DeadLetter>> {
    let stream = dlq_stream(broker).await?;
    let subject = filter(broker.service());
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let next = stream.raw_message_builder().sequence(from).next_by_subject(subject.clone()).send().await;
        match next {
            Ok(message) => {
                from = message.sequence + 1;
                out.push(DeadLetter {
                    sequence: message.sequence,
                    subject: message.subject.to_string(),
                    headers: message.headers,
                    payload: message.payload,
                });
            }
            // No further message on the subject (the only error a well-formed request gets).
            Err(e) if matches!(e.kind(), async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// One dead letter of this service.
pub async fn get(broker: &Broker, sequence: u64) -> anyhow::Result<DeadLetter> {
    let stream = dlq_stream(broker).await?;
    let message =
        stream.get_raw_message(sequence).await.map_err(|e| anyhow::anyhow!("no dead letter {sequence}: {e}"))?;
    let prefix = format!("dlq.{}.", broker.service());
    anyhow::ensure!(message.subject.starts_with(&prefix), "dead letter {sequence} belongs to another service");
    Ok(DeadLetter {
        sequence: message.sequence,
        subject: message.subject.to_string(),
        headers: message.headers,
        payload: message.payload,
    })
}

/// Replays `letter` (see the module docs) and deletes it.
pub async fn replay(broker: &Broker, letter: &DeadLetter) -> anyhow::Result<()> {
    let subject = letter
        .header(headers::DLQ_SUBJECT)
        .ok_or_else(|| anyhow::anyhow!("dead letter {} has no original subject", letter.sequence))?
        .to_string();
    let consumer = letter
        .header(headers::DLQ_CONSUMER)
        .ok_or_else(|| anyhow::anyhow!("dead letter {} names no consumer", letter.sequence))?
        .to_string();
    let mut replayed = HeaderMap::new();
    for (name, values) in letter.headers.iter() {
        let name_str: &str = name.as_ref();
        if name_str.starts_with("Mercato-Dlq-") || name_str == headers::MSG_ID {
            continue;
        }
        for value in values {
            replayed.append(name.clone(), value.clone());
        }
    }
    replayed.insert(headers::REPLAY_FOR, consumer.as_str());
    let event_id = letter.header(headers::EVENT_ID).unwrap_or("unknown");
    let message = PublishMessage::build()
        .payload(letter.payload.clone())
        .headers(replayed)
        .message_id(format!("replay:{}:{event_id}", letter.sequence));
    broker.jetstream().send_publish(subject, message).await?.await?;
    dlq_stream(broker).await?.delete_message(letter.sequence).await?;
    Ok(())
}

/// Deletes `sequence`, or every dead letter of this service; returns how many.
pub async fn purge(broker: &Broker, sequence: Option<u64>) -> anyhow::Result<u64> {
    let stream = dlq_stream(broker).await?;
    match sequence {
        Some(sequence) => {
            get(broker, sequence).await?;
            stream.delete_message(sequence).await?;
            Ok(1)
        }
        None => Ok(stream.purge().filter(filter(broker.service())).await?.purged),
    }
}

/// Runs a `dlq` subcommand, writing what a person (or, with `--json`, a script) reads.
pub async fn run(command: DlqCommand, broker: &Broker, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        DlqCommand::List { json } => {
            let letters = list(broker).await?;
            if json {
                for letter in &letters {
                    writeln!(out, "{}", letter.summary())?;
                }
            } else {
                writeln!(
                    out,
                    "{:>8}  {:<28}  {:<40}  {:>8}  {:<25}  ERROR",
                    "SEQUENCE", "CONSUMER", "TYPE", "ATTEMPTS", "FAILED AT"
                )?;
                for letter in &letters {
                    let error: String = letter.header(headers::DLQ_ERROR).unwrap_or("").chars().take(80).collect();
                    writeln!(
                        out,
                        "{:>8}  {:<28}  {:<40}  {:>8}  {:<25}  {error}",
                        letter.sequence,
                        letter.header(headers::DLQ_CONSUMER).unwrap_or("?"),
                        letter.header(headers::EVENT_TYPE).unwrap_or("?"),
                        letter.header(headers::DLQ_ATTEMPTS).unwrap_or("?"),
                        letter.header(headers::DLQ_FAILED_AT).unwrap_or("?"),
                    )?;
                }
                writeln!(out, "{} dead letter(s)", letters.len())?;
            }
        }
        DlqCommand::Show { sequence, json } => {
            let letter = get(broker, sequence).await?;
            let headers: serde_json::Map<String, Value> = letter
                .headers
                .iter()
                .map(|(name, values)| {
                    let name: &str = name.as_ref();
                    (name.to_string(), json!(values.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")))
                })
                .collect();
            let payload = decode(letter.header(headers::EVENT_TYPE), &letter.payload);
            let shown =
                json!({"sequence": letter.sequence, "subject": letter.subject, "headers": headers, "payload": payload});
            if json {
                writeln!(out, "{shown}")?;
            } else {
                writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
            }
        }
        DlqCommand::Replay { sequence, all: _ } => {
            let letters = match sequence {
                Some(sequence) => vec![get(broker, sequence).await?],
                None => list(broker).await?,
            };
            for letter in &letters {
                replay(broker, letter).await?;
                writeln!(out, "replayed {} ({})", letter.sequence, letter.header(headers::EVENT_TYPE).unwrap_or("?"))?;
            }
            writeln!(out, "{} dead letter(s) replayed", letters.len())?;
        }
        DlqCommand::Purge { sequence, all: _ } => {
            let purged = purge(broker, sequence).await?;
            writeln!(out, "{purged} dead letter(s) purged")?;
        }
    }
    Ok(())
}

/// The payload as canonical JSON when its type is in the contracts, else base64.
fn decode(event_type: Option<&str>, payload: &[u8]) -> Value {
    let decoded = event_type.and_then(|name| {
        let pool = prost_reflect::DescriptorPool::decode(mercato::FILE_DESCRIPTOR_SET).ok()?;
        let descriptor = pool.get_message_by_name(name)?;
        let message = prost_reflect::DynamicMessage::decode(descriptor, payload).ok()?;
        serde_json::to_value(&message).ok()
    });
    decoded.unwrap_or_else(|| json!({"base64": base64::engine::general_purpose::STANDARD.encode(payload)}))
}
