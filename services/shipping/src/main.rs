//! The shipping binary: the kit's service skeleton around shipping.

use std::process::ExitCode;

fn main() -> ExitCode {
    mercato_kit::service::main::<mercato_shipping::Shipping>()
}
