//! `google.api.http` path templates: parsing, matching a request path, and how specific a
//! template is (so the route table can prefer `/v1/users/me` over `/v1/users/{id}`).
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! Verb     = ":" LITERAL ;
//! ```

use std::fmt;

use percent_encoding::percent_decode_str;

/// Why a template string is not a valid `google.api.http` path template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (at byte {position})")]
pub struct TemplateError {
    pub position: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    /// `*`: exactly one non-empty path segment.
    Single,
    /// `**`: zero or more path segments; only ever the last segment.
    Multi,
}

impl Segment {
    fn write(&self, out: &mut String) {
        match self {
            Segment::Literal(lit) => out.push_str(lit),
            Segment::Single => out.push('*'),
            Segment::Multi => out.push_str("**"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Variable {
    field_path: Vec<String>,
    /// Range of `segments` the variable captures.
    start: usize,
    end: usize,
}

/// A parsed path template such as `/v1/orders/{id}:cancel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
    /// Per segment, how specific it is; kept because `find` compares it on every request.
    ranks: Vec<u8>,
}

/// A request path split into its segments once, for matching against every template.
#[derive(Debug, Clone)]
pub struct RequestPath<'p> {
    parts: Vec<&'p str>,
    /// The last segment split at its last ':' (segment, verb), for templates that declare a verb.
    verb: Option<(&'p str, &'p str)>,
}

impl<'p> RequestPath<'p> {
    /// `None` unless the path is absolute.
    pub fn parse(path: &'p str) -> Option<Self> {
        let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let verb = parts.last().and_then(|last| last.rsplit_once(':'));
        Some(Self { parts, verb })
    }
}

/// The segments as one template sees them: the last one possibly without its verb.
struct Parts<'a, 'p> {
    all: &'a [&'p str],
    last: &'p str,
}

impl<'p> Parts<'_, 'p> {
    fn len(&self) -> usize {
        self.all.len()
    }

    fn get(&self, i: usize) -> Option<&'p str> {
        if i + 1 == self.all.len() { Some(self.last) } else { self.all.get(i).copied() }
    }
}

impl PathTemplate {
    pub fn parse(s: &str) -> Result<Self, TemplateError> {
        Parser { s, pos: 0 }.template()
    }

    /// Field paths of the variables, in template order.
    pub fn variables(&self) -> Vec<Vec<String>> {
        self.variables.iter().map(|v| v.field_path.clone()).collect()
    }

    /// The custom verb (`cancel` in `/v1/orders/{id}:cancel`), if the template declares one.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    /// The path as OpenAPI writes it: each variable becomes `{field.path}` whatever segments it
    /// captures, since OpenAPI path parameters cannot describe sub-patterns.
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while let Some(seg) = self.segments.get(i) {
            out.push('/');
            if let Some(var) = self.variables.iter().find(|v| v.start == i) {
                out.push('{');
                out.push_str(&var.field_path.join("."));
                out.push('}');
                i = var.end.max(i + 1);
            } else {
                seg.write(&mut out);
                i += 1;
            }
        }
        self.write_verb(&mut out);
        out
    }

    fn write_verb(&self, out: &mut String) {
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
    }

    /// Matches a request path (as sent, still percent-encoded) and returns each variable's field
    /// path with its decoded value, or `None` when the path does not fit the template.
    pub fn match_path(&self, path: &str) -> Option<Vec<(Vec<String>, String)>> {
        self.match_request(&RequestPath::parse(path)?)
    }

    /// [`Self::match_path`] on a path already split, so the route table splits each request
    /// path once rather than once per route.
    ///
    /// Literals are compared with the raw segment: a client that percent-encodes a literal
    /// addresses a different resource. A bound value that is not UTF-8 once decoded does not match
    /// (no string field could hold it).
    pub fn match_request(&self, request: &RequestPath<'_>) -> Option<Vec<(Vec<String>, String)>> {
        let parts = match &self.verb {
            // The verb is whatever follows the last ':' of the last segment; anything before it,
            // colons included, belongs to the segment.
            Some(verb) => match request.verb {
                Some((head, tail)) if tail == verb => Parts { all: &request.parts, last: head },
                _ => return None,
            },
            None => Parts { all: &request.parts, last: request.parts.last().copied().unwrap_or_default() },
        };
        let fixed = match self.segments.last() {
            Some(Segment::Multi) => {
                let fixed = self.segments.len().saturating_sub(1);
                if parts.len() < fixed {
                    return None;
                }
                fixed
            }
            _ => {
                if parts.len() != self.segments.len() {
                    return None;
                }
                self.segments.len()
            }
        };
        for (i, seg) in self.segments.iter().enumerate().take(fixed) {
            let part = parts.get(i)?;
            match seg {
                Segment::Literal(lit) if lit == part => {}
                Segment::Single if !part.is_empty() => {}
                _ => return None,
            }
        }
        let mut bindings = Vec::with_capacity(self.variables.len());
        for var in &self.variables {
            let end = if var.end >= self.segments.len() && fixed < self.segments.len() { parts.len() } else { var.end };
            if var.start > end || end > parts.len() {
                return None;
            }
            let value = if matches!(self.segments.get(var.start..var.end), Some([Segment::Single])) {
                decode(parts.get(var.start)?, false)?
            } else {
                // Multi-segment captures keep an encoded '/' encoded, so that the '/' separators
                // stay distinguishable from slashes inside a segment (RFC 6570 reserved expansion).
                let mut joined = String::new();
                for i in var.start..end {
                    if i > var.start {
                        joined.push('/');
                    }
                    joined.push_str(&decode(parts.get(i)?, true)?);
                }
                joined
            };
            bindings.push((var.field_path.clone(), value));
        }
        Some(bindings)
    }

    /// Orders templates that match the same path: literals beat `*`, which beats `**`, segment by
    /// segment from the left; then a declared verb beats none.
    pub(crate) fn specificity(&self) -> (&[u8], bool) {
        (&self.ranks, self.verb.is_some())
    }

    /// The template with variable names erased: two routes of one HTTP method with the same shape
    /// would match exactly the same paths.
    pub(crate) fn shape(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            out.push('/');
            seg.write(&mut out);
        }
        self.write_verb(&mut out);
        out
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.openapi_path())
    }
}

fn decode(part: &str, keep_slash: bool) -> Option<String> {
    if keep_slash && part.contains('%') {
        let mut out = String::new();
        // Split on every spelling of an encoded '/', decode the pieces, and put "%2F" back.
        let mut rest = part;
        while let Some(idx) = find_encoded_slash(rest) {
            out.push_str(&percent_decode_str(rest.get(..idx)?).decode_utf8().ok()?);
            out.push_str(rest.get(idx..idx + 3)?);
            rest = rest.get(idx + 3..)?;
        }
        out.push_str(&percent_decode_str(rest).decode_utf8().ok()?);
        return Some(out);
    }
    percent_decode_str(part).decode_utf8().ok().map(|s| s.into_owned())
}

fn find_encoded_slash(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    (0..bytes.len().saturating_sub(2)).find(|&i| {
        bytes.get(i) == Some(&b'%') && bytes.get(i + 1) == Some(&b'2') && matches!(bytes.get(i + 2), Some(b'f' | b'F'))
    })
}

struct Parser<'s> {
    s: &'s str,
    pos: usize,
}

impl Parser<'_> {
    fn error<T>(&self, reason: impl Into<String>) -> Result<T, TemplateError> {
        Err(TemplateError { position: self.pos, reason: reason.into() })
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..).and_then(|r| r.chars().next())
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn template(mut self) -> Result<PathTemplate, TemplateError> {
        if !self.eat('/') {
            return self.error("a path template starts with '/'");
        }
        let mut segments = Vec::new();
        let mut variables: Vec<Variable> = Vec::new();
        loop {
            if self.eat('{') {
                let field_path = self.field_path()?;
                if variables.iter().any(|v| v.field_path == field_path) {
                    return self.error(format!("variable `{}` appears twice", field_path.join(".")));
                }
                let start = segments.len();
                if self.eat('=') {
                    self.segments(&mut segments, true)?;
                } else {
                    segments.push(Segment::Single);
                }
                if !self.eat('}') {
                    return self.error("expected '}' closing the variable");
                }
                variables.push(Variable { field_path, start, end: segments.len() });
            } else {
                segments.push(self.segment()?);
            }
            if !self.eat('/') {
                break;
            }
        }
        if let Some(i) = segments.iter().position(|s| *s == Segment::Multi)
            && i + 1 != segments.len()
        {
            return self.error("`**` must be the last segment");
        }
        let verb = if self.eat(':') { Some(self.literal("verb")?) } else { None };
        if self.pos != self.s.len() {
            return self.error("unexpected character");
        }
        let ranks = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 2,
                Segment::Single => 1,
                Segment::Multi => 0,
            })
            .collect();
        Ok(PathTemplate { segments, variables, verb, ranks })
    }

    fn segments(&mut self, out: &mut Vec<Segment>, in_variable: bool) -> Result<(), TemplateError> {
        loop {
            if in_variable && self.peek() == Some('{') {
                return self.error("variables cannot nest");
            }
            out.push(self.segment()?);
            if !self.eat('/') {
                return Ok(());
            }
        }
    }

    fn segment(&mut self) -> Result<Segment, TemplateError> {
        if self.eat('*') {
            return Ok(if self.eat('*') { Segment::Multi } else { Segment::Single });
        }
        Ok(Segment::Literal(self.literal("segment")?))
    }

    fn literal(&mut self, what: &str) -> Result<String, TemplateError> {
        let rest = self.s.get(self.pos..).unwrap_or_default();
        let len = rest.find(|c: char| is_special(c)).unwrap_or(rest.len());
        if len == 0 {
            return self.error(format!("expected a literal {what}"));
        }
        self.pos += len;
        Ok(rest.get(..len).unwrap_or_default().to_owned())
    }

    fn field_path(&mut self) -> Result<Vec<String>, TemplateError> {
        let mut path = Vec::new();
        loop {
            let rest = self.s.get(self.pos..).unwrap_or_default();
            let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let ident = rest.get(..len).unwrap_or_default();
            if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
                return self.error("expected a field name");
            }
            path.push(ident.to_owned());
            self.pos += len;
            if !self.eat('.') {
                return Ok(path);
            }
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '/' | '{' | '}' | ':' | '*' | '=' | '?' | '#') || c.is_whitespace() || c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(t: &str, path: &str) -> Option<Vec<(String, String)>> {
        let t = PathTemplate::parse(t).unwrap();
        t.match_path(path).map(|b| b.into_iter().map(|(p, v)| (p.join("."), v)).collect())
    }

    #[test]
    fn parses_the_grammar() {
        for t in [
            "/v1/products",
            "/v1/products/{id}",
            "/v1/orders/{id}:cancel",
            "/v1/products:batchGet",
            "/v1/{name=shelves/*/books/*}",
            "/v1/{book.name=shelves/*}/x",
            "/v1/*/x",
            "/v1/{path=**}:get",
            "/v1/files/**",
        ] {
            PathTemplate::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }

    #[test]
    fn rejects_malformed_templates() {
        for t in [
            "",
            "v1/products",
            "/",
            "/v1//x",
            "/v1/{id",
            "/v1/{}",
            "/v1/{1a}",
            "/v1/{a={b}}",
            "/v1/**/x",
            "/v1/{a=**}/x",
            "/v1/{a}/{a}",
            "/v1/x:",
            "/v1/x:a:b",
            "/v1/x/",
            "/v1/{a.}",
        ] {
            assert!(PathTemplate::parse(t).is_err(), "{t} parsed");
        }
    }

    #[test]
    fn openapi_path_names_each_variable() {
        let cases = [
            ("/v1/products/{id}", "/v1/products/{id}"),
            ("/v1/orders/{id}:cancel", "/v1/orders/{id}:cancel"),
            ("/v1/{book.name=shelves/*}/x", "/v1/{book.name}/x"),
            ("/v1/{path=**}", "/v1/{path}"),
            ("/v1/*/x", "/v1/*/x"),
        ];
        for (t, want) in cases {
            assert_eq!(PathTemplate::parse(t).unwrap().openapi_path(), want);
        }
    }

    #[test]
    fn variables_are_field_paths() {
        let t = PathTemplate::parse("/v1/{a.b}/{c=x/*}").unwrap();
        assert_eq!(t.variables(), vec![vec!["a".to_owned(), "b".to_owned()], vec!["c".to_owned()]]);
    }

    #[test]
    fn single_segment_variables_decode_everything_but_never_span_a_slash() {
        assert_eq!(vars("/v1/products/{id}", "/v1/products/a%2Fb%20c"), Some(vec![("id".into(), "a/b c".into())]));
        assert_eq!(vars("/v1/products/{id}", "/v1/products/a/b"), None);
        assert_eq!(vars("/v1/products/{id}", "/v1/products/"), None);
        assert_eq!(vars("/v1/products/{id}", "/v1/products/%FF"), None);
    }

    #[test]
    fn multi_segment_variables_keep_encoded_slashes() {
        assert_eq!(
            vars("/v1/{name=shelves/*}", "/v1/shelves/a%2Fb%21"),
            Some(vec![("name".into(), "shelves/a%2Fb!".into())])
        );
        assert_eq!(vars("/v1/{path=**}", "/v1/a/b/c"), Some(vec![("path".into(), "a/b/c".into())]));
        assert_eq!(vars("/v1/{path=**}", "/v1"), Some(vec![("path".into(), String::new())]));
        assert_eq!(vars("/v1/{name=shelves/*}", "/v1/books/a"), None);
    }

    #[test]
    fn the_verb_is_after_the_last_colon_only_when_declared() {
        assert_eq!(vars("/v1/orders/{id}:watch", "/v1/orders/a:b:watch"), Some(vec![("id".into(), "a:b".into())]));
        assert_eq!(vars("/v1/orders/{id}", "/v1/orders/a:watch"), Some(vec![("id".into(), "a:watch".into())]));
        assert_eq!(vars("/v1/orders/{id}:watch", "/v1/orders/a:cancel"), None);
        assert_eq!(vars("/v1/orders/{id}:watch", "/v1/orders/a%3Awatch"), None);
        assert_eq!(vars("/v1/products:batchGet", "/v1/products:batchGet"), Some(vec![]));
        assert_eq!(vars("/v1/products", "/v1/products:batchGet"), None);
    }

    #[test]
    fn literals_beat_variables_and_verbs_beat_none() {
        let spec = |t: &str| {
            let t = PathTemplate::parse(t).unwrap();
            let (ranks, verb) = t.specificity();
            (ranks.to_vec(), verb)
        };
        assert!(spec("/v1/users/me") > spec("/v1/users/{id}"));
        assert!(spec("/v1/orders/{id}:watch") > spec("/v1/orders/{id}"));
        assert!(spec("/v1/x/{id}") > spec("/v1/{path=**}"));
    }
}
