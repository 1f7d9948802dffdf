//! Compiles every `.proto` under `proto/` with protox (no `protoc` needed) into typed tonic
//! clients/servers, and writes the descriptor set that `mercato::FILE_DESCRIPTOR_SET` embeds.

use std::{
    env,
    error::Error,
    fs,
    path::{Path, PathBuf},
};

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect_protos(&root, &root, &mut files)?;
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let mut compiler = protox::Compiler::new([&root])?;
    // Source info carries the doc comments: rustdoc shows them, and the gateway's OpenAPI
    // generator reads them from the embedded set.
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(&files)?;

    // protox's own encoder keeps custom options (google.api.http) that re-encoding the
    // prost_types copy would silently drop.
    fs::write(out_dir.join("mercato_descriptor.bin"), compiler.encode_file_descriptor_set())?;

    // Well-known types map to prost-types (prost's default extern path).
    tonic_prost_build::configure()
        .include_file("mercato_protos.rs")
        .emit_rerun_if_changed(false)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

fn collect_protos(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}
