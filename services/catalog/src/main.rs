//! The catalog binary: the kit's service skeleton around catalog.

use std::process::ExitCode;

fn main() -> ExitCode {
    mercato_kit::service::main::<mercato_catalog::Catalog>()
}
