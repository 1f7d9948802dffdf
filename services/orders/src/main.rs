//! The orders binary: the kit's service skeleton around orders.

use std::process::ExitCode;

fn main() -> ExitCode {
    mercato_kit::service::main::<mercato_orders::Orders>()
}
