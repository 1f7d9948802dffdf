//! mercato's contracts: typed gRPC clients and servers generated from `proto/`, plus the
//! descriptor set they were compiled from (server reflection, the gateway's transcoder).

#![allow(clippy::all, missing_docs, rustdoc::all)]

#[allow(unreachable_pub, missing_debug_implementations)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/mercato_protos.rs"));
}

pub use generated::{google, mercato::*};

/// Every file under `proto/` and its imports as an encoded `FileDescriptorSet`, with source
/// info and custom options (`google.api.http`) kept.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mercato_descriptor.bin"));
