//! The notifications binary: the kit's service skeleton around notifications.

use std::process::ExitCode;

fn main() -> ExitCode {
    mercato_kit::service::main::<mercato_notifications::Notifications>()
}
