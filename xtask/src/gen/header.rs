//! The generated-file header, rendered in each file's comment syntax, and
//! the README splice between its markers.
//!
//! The header says where a file comes from and carries a checksum of the
//! rest of the file. A file without the header was written by someone else;
//! a file whose checksum no longer matches was edited by hand. `gen` refuses
//! to overwrite either unless `--force` is given.

/// The header text, one line per entry, the same in every file.
const LINES: [&str; 2] = [
    "Generated from testing.toml by `cargo xtask gen`: do not edit by hand.",
    "Change testing.toml, then run `cargo xtask gen` (CI runs `cargo xtask gen --check`).",
];

/// What precedes the checksum on the header's last line.
const CHECKSUM_PREFIX: &str = "checksum: sha256:";

/// How a file type writes comments, which decides where the header goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comment {
    /// `# …` lines at the top, then a blank line (pytest.ini, Makefile,
    /// workflows; in a justfile the blank line keeps the header from
    /// becoming the first recipe's doc).
    Hash,
    /// One `<!-- … -->` block at the top, then a blank line (Markdown).
    Html,
    /// `# …` lines inside YAML front matter, right after the opening `---`
    /// (GitHub issue templates, whose front matter must come first).
    FrontMatter,
}

/// Whether an existing file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Carries the header and is unchanged since it was generated.
    Generated,
    /// Carries the header but was changed since it was generated.
    EditedByHand,
    /// Has no header: written by someone else.
    Foreign,
}

fn checksum(body: &str) -> String {
    crate::hash::of(body, 8)
}

/// The header lines with the checksum, without comment syntax.
fn lines(sum: &str) -> Vec<String> {
    let mut lines: Vec<String> = LINES.iter().map(|l| l.to_string()).collect();
    lines.push(format!("{CHECKSUM_PREFIX}{sum}"));
    lines
}

/// The header as it appears in the file, for a checksum.
fn render(comment: Comment, sum: &str) -> String {
    let lines = lines(sum);
    match comment {
        Comment::Hash => {
            let mut out: String = lines.iter().map(|l| format!("# {l}\n")).collect();
            out.push('\n');
            out
        }
        Comment::Html => format!("<!-- {} -->\n\n", lines.join("\n     ")),
        Comment::FrontMatter => {
            let body: String = lines.iter().map(|l| format!("# {l}\n")).collect();
            format!("---\n{body}")
        }
    }
}

/// Adds the header to a generated `body`.
pub fn wrap(comment: Comment, body: &str) -> String {
    let sum = checksum(body);
    match comment {
        Comment::Hash | Comment::Html => format!("{}{body}", render(comment, &sum)),
        Comment::FrontMatter => {
            let rest = body
                .strip_prefix("---\n")
                .expect("front matter starts with `---`");
            format!("{}{rest}", render(comment, &sum))
        }
    }
}

/// Tells whether `text` (an existing file) was generated, and whether it was
/// edited since.
pub fn ownership(comment: Comment, text: &str) -> Ownership {
    let first = render(comment, "");
    let first_line = first
        .lines()
        .find(|l| l.contains(LINES[0]))
        .expect("the header names its source");
    let Some(start) = text.find(first_line) else {
        return Ownership::Foreign;
    };
    // The header must open the file (after the front matter's `---`).
    let allowed_start = first.find(first_line).unwrap_or(0);
    if start != allowed_start {
        return Ownership::Foreign;
    }
    let sum = text[start..]
        .lines()
        .take(LINES.len() + 1)
        .find_map(|l| l.split_once(CHECKSUM_PREFIX).map(|(_, s)| s))
        .map(|s| s.trim_end_matches("-->").trim().to_string());
    let Some(sum) = sum else {
        return Ownership::EditedByHand;
    };
    let Some(rest) = text.strip_prefix(&render(comment, &sum)) else {
        return Ownership::EditedByHand;
    };
    let body = match comment {
        Comment::FrontMatter => format!("---\n{rest}"),
        Comment::Hash | Comment::Html => rest.to_string(),
    };
    if checksum(&body) == sum {
        Ownership::Generated
    } else {
        Ownership::EditedByHand
    }
}

/// A README section between `<!-- BEGIN GENERATED: {name} -->` and
/// `<!-- END GENERATED: {name} -->`, each on a line of its own.
pub struct Markers {
    pub begin: String,
    pub end: String,
}

impl Markers {
    pub fn new(name: &str) -> Markers {
        Markers {
            begin: format!("<!-- BEGIN GENERATED: {name} -->"),
            end: format!("<!-- END GENERATED: {name} -->"),
        }
    }
}

/// Why a section could not be spliced in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpliceError {
    Missing(String),
    Duplicated(String),
    OutOfOrder,
}

impl std::fmt::Display for SpliceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpliceError::Missing(m) => write!(f, "the marker `{m}` is missing"),
            SpliceError::Duplicated(m) => write!(f, "the marker `{m}` appears more than once"),
            SpliceError::OutOfOrder => f.write_str("the END marker comes before the BEGIN marker"),
        }
    }
}

/// The byte range of the text between the marker lines (after the BEGIN
/// line's newline, up to the start of the END line).
fn section_range(text: &str, markers: &Markers) -> Result<std::ops::Range<usize>, SpliceError> {
    let find = |marker: &str| -> Result<(usize, usize), SpliceError> {
        let mut offset = 0;
        let mut found = None;
        for line in text.split_inclusive('\n') {
            if line.trim() == marker {
                if found.is_some() {
                    return Err(SpliceError::Duplicated(marker.to_string()));
                }
                found = Some((offset, offset + line.len()));
            }
            offset += line.len();
        }
        found.ok_or_else(|| SpliceError::Missing(marker.to_string()))
    };
    let (_, after_begin) = find(&markers.begin)?;
    let (end_start, _) = find(&markers.end)?;
    if end_start < after_begin {
        return Err(SpliceError::OutOfOrder);
    }
    Ok(after_begin..end_start)
}

/// `text` with the section between the markers replaced by `section`.
pub fn splice(text: &str, markers: &Markers, section: &str) -> Result<String, SpliceError> {
    let range = section_range(text, markers)?;
    let mut out = String::with_capacity(text.len() + section.len());
    out.push_str(&text[..range.start]);
    if !text[..range.start].ends_with('\n') {
        out.push('\n');
    }
    out.push_str(section);
    out.push_str(&text[range.end..]);
    Ok(out)
}

/// The current section between the markers.
pub fn section<'a>(text: &'a str, markers: &Markers) -> Result<&'a str, SpliceError> {
    section_range(text, markers).map(|r| &text[r])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syntax_round_trips_and_detects_edits() {
        for (comment, body) in [
            (Comment::Hash, "[pytest]\ntestpaths = tests\n"),
            (Comment::Html, "# Testing\n\nText.\n"),
            (Comment::FrontMatter, "---\nname: x\n---\n\nBody.\n"),
        ] {
            let text = wrap(comment, body);
            assert_eq!(ownership(comment, &text), Ownership::Generated, "{text}");
            let edited = format!("{text}edited\n");
            assert_eq!(
                ownership(comment, &edited),
                Ownership::EditedByHand,
                "{edited}"
            );
            assert_eq!(ownership(comment, body), Ownership::Foreign);
            assert_eq!(ownership(comment, &format!("\n{text}")), Ownership::Foreign);
        }
    }

    #[test]
    fn header_formats() {
        let hash = wrap(Comment::Hash, "x\n");
        assert!(hash.starts_with("# Generated from testing.toml"), "{hash}");
        assert!(hash.ends_with("\n\nx\n"), "{hash}");
        let html = wrap(Comment::Html, "x\n");
        assert!(
            html.starts_with("<!-- Generated from testing.toml"),
            "{html}"
        );
        assert!(html.contains(" -->\n\nx\n"), "{html}");
        let fm = wrap(Comment::FrontMatter, "---\nname: n\n---\n");
        assert!(fm.starts_with("---\n# Generated from"), "{fm}");
        assert!(fm.ends_with("\nname: n\n---\n"), "{fm}");
    }

    #[test]
    fn splice_replaces_only_between_markers() {
        let markers = Markers::new("testing");
        let text = "intro\n<!-- BEGIN GENERATED: testing -->\nold\n<!-- END GENERATED: testing -->\nouttro\n";
        let out = splice(text, &markers, "new\n").unwrap();
        assert_eq!(
            out,
            "intro\n<!-- BEGIN GENERATED: testing -->\nnew\n<!-- END GENERATED: testing -->\nouttro\n"
        );
        assert_eq!(section(&out, &markers).unwrap(), "new\n");
        assert_eq!(
            splice("intro\n", &markers, "x").unwrap_err(),
            SpliceError::Missing(markers.begin.clone())
        );
        let twice = format!("{text}{}\n", markers.end);
        assert_eq!(
            splice(&twice, &markers, "x").unwrap_err(),
            SpliceError::Duplicated(markers.end.clone())
        );
        let reversed = format!("{}\n{}\n", markers.end, markers.begin);
        assert_eq!(
            splice(&reversed, &markers, "x").unwrap_err(),
            SpliceError::OutOfOrder
        );
    }
}
