//! A folder of `.eml` files, one per message, named by the notification's id: what tests and
//! `just demo` read, and what a mail client opens. Written to a temporary name and renamed, so
//! a reader never sees half a message and a repeat replaces the file with the same bytes.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{Outgoing, Sink, SinkError};

#[derive(Debug)]
pub struct FileSink {
    folder: PathBuf,
}

impl FileSink {
    /// Creates `folder` if needed.
    pub fn new(folder: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&folder)?;
        Ok(Self { folder })
    }

    /// Where the message with this notification id is (or will be) written.
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.folder.join(format!("{id}.eml"))
    }
}

/// Ids are UUIDs; anything else could name a path outside the folder.
fn safe(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[async_trait]
impl Sink for FileSink {
    async fn deliver(&self, outgoing: &Outgoing) -> Result<(), SinkError> {
        if !safe(&outgoing.id) {
            return Err(SinkError(format!("notification id {:?} cannot name a file", outgoing.id)));
        }
        let path = self.path_of(&outgoing.id);
        let partial = self.folder.join(format!(".{}.eml.partial", outgoing.id));
        let bytes = outgoing.message.formatted();
        let written = async {
            tokio::fs::write(&partial, &bytes).await?;
            tokio::fs::rename(&partial, &path).await
        };
        written.await.map_err(|e| SinkError(format!("writing {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        email,
        templates::{Contact, Rendered},
    };

    fn outgoing(id: &str) -> Outgoing {
        let to = Contact { email: "ada@example.com".into(), display_name: "Ada".into() };
        let rendered = Rendered { subject: "Hello".into(), text: "hi".into(), html: "<p>hi</p>".into() };
        Outgoing { id: id.into(), message: email::build("shop@mercato.test", &to, &rendered, id).unwrap() }
    }

    #[tokio::test]
    async fn each_message_is_one_whole_file_named_by_its_id_and_a_repeat_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path().join("mail")).unwrap();
        let id = "01a2386d-b691-728a-a32e-fa444a1c9b49";
        sink.deliver(&outgoing(id)).await.unwrap();
        sink.deliver(&outgoing(id)).await.unwrap();
        let files: Vec<_> =
            std::fs::read_dir(dir.path().join("mail")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, [std::ffi::OsString::from(format!("{id}.eml"))]);
        let raw = std::fs::read_to_string(sink.path_of(id)).unwrap();
        assert!(raw.contains("Subject: Hello\r\n") && raw.contains("ada@example.com"), "{raw}");
    }

    #[tokio::test]
    async fn an_id_that_is_not_a_plain_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path().to_path_buf()).unwrap();
        for bad in ["../escape", "a/b", ""] {
            assert!(sink.deliver(&outgoing(bad)).await.is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn an_unwritable_folder_is_a_failure_to_retry_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path().join("gone")).unwrap();
        std::fs::remove_dir(dir.path().join("gone")).unwrap();
        assert!(sink.deliver(&outgoing("abc")).await.is_err());
    }
}
