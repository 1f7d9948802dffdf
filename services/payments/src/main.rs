//! The payments binary: the kit's service skeleton around payments.

use std::process::ExitCode;

fn main() -> ExitCode {
    mercato_kit::service::main::<mercato_payments::Payments>()
}
