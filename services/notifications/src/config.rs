//! notifications' own flags, on top of the kit's (see `mercato_kit::service`).

use std::path::PathBuf;

use clap::Args;
use mercato_kit::config::Problems;

/// Flags only notifications has.
#[derive(Debug, Clone, Args)]
pub struct NotificationsArgs {
    /// Where messages go: `log` (a line per message, nothing sent) or `file` (one .eml per
    /// message in MAIL_DIR, for tests and demos).
    #[arg(long, env = "NOTIFICATION_SINK", default_value = "log")]
    pub notification_sink: String,

    /// The folder of the `file` sink.
    #[arg(long, env = "MAIL_DIR", default_value = "")]
    pub mail_dir: String,

    /// The sender of every e-mail (`name <address>` or an address).
    #[arg(long, env = "MAIL_FROM", default_value = "mercato <shop@mercato.invalid>")]
    pub mail_from: String,
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkChoice {
    Log,
    File(PathBuf),
}

/// notifications' validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sink: SinkChoice,
    pub from: String,
}

impl NotificationsArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<Settings> {
        let sink = problems.check(
            "NOTIFICATION_SINK (--notification-sink)",
            match (self.notification_sink.as_str(), self.mail_dir.is_empty()) {
                ("log", _) => Ok(SinkChoice::Log),
                ("file", false) => Ok(SinkChoice::File(PathBuf::from(&self.mail_dir))),
                ("file", true) => Err("`file` needs MAIL_DIR (--mail-dir)".to_string()),
                (other, _) => Err(format!("{other:?}: the sinks are `log` and `file`")),
            },
        );
        let from = problems.check(
            "MAIL_FROM (--mail-from)",
            self.mail_from
                .parse::<lettre::message::Mailbox>()
                .map(|_| self.mail_from.clone())
                .map_err(|e| format!("{:?} is not a sender address: {e}", self.mail_from)),
        );
        Some(Settings { sink: sink?, from: from? })
    }
}
