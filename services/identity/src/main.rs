//! The identity binary: the kit's service skeleton around identity.

use std::process::ExitCode;

fn main() -> ExitCode {
    mercato_kit::service::main::<mercato_identity::Identity>()
}
