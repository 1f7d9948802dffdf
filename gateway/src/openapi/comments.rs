//! Proto comments (leading, else trailing) as OpenAPI summaries and descriptions.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, FieldDescriptor, FileDescriptor};

/// Leading (else trailing) comments by file and source path.
pub(super) struct Comments(HashMap<String, HashMap<Vec<i32>, String>>);

impl Comments {
    pub(super) fn new(pool: &DescriptorPool) -> Self {
        let mut files = HashMap::new();
        for file in pool.files() {
            let Some(info) = &file.file_descriptor_proto().source_code_info else { continue };
            let mut by_path = HashMap::new();
            for location in &info.location {
                let text = location.leading_comments.as_deref().or(location.trailing_comments.as_deref());
                if let Some(text) = text.map(clean).filter(|t| !t.is_empty()) {
                    by_path.insert(location.path.clone(), text);
                }
            }
            files.insert(file.name().to_owned(), by_path);
        }
        Self(files)
    }

    pub(super) fn get(&self, file: &FileDescriptor, path: &[i32]) -> Option<&str> {
        self.0.get(file.name())?.get(path).map(String::as_str)
    }

    pub(super) fn field(&self, field: &FieldDescriptor) -> Option<&str> {
        self.get(&field.parent_file(), field.path())
    }
}

/// A comment without the space after `//` and trailing blanks, line breaks kept (Markdown
/// reads them as soft breaks).
pub(super) fn clean(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end()).collect();
    lines.join("\n").trim().to_owned()
}

/// The first sentence of the first paragraph, on one line.
pub(super) fn summary(text: &str) -> String {
    let paragraph = text.split("\n\n").next().unwrap_or(text);
    let flat = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat.get(..=end).unwrap_or(&flat).to_owned(),
        None => flat,
    }
}
