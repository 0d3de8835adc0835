//! Line ends between the web (`\n`) and the Windows clipboard (`\r\n`, which Windows programs
//! expect of pasted text). Pure, so the Windows clipboard's conversions are tested anywhere.

/// `\n` becomes `\r\n`; a `\r\n` already there stays as it is.
pub fn to_crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut prev = '\0';
    for c in text.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

/// `\r\n` becomes `\n`; a lone `\r` stays.
pub fn to_lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_convert_both_ways_without_doubling() {
        assert_eq!(to_crlf("a\nb\r\nc\n"), "a\r\nb\r\nc\r\n");
        assert_eq!(to_crlf("\n\n"), "\r\n\r\n");
        assert_eq!(to_crlf("no ends \u{2603}"), "no ends \u{2603}");
        assert_eq!(to_lf("a\r\nb\r\n\r\nc\rd"), "a\nb\n\nc\rd");
        for text in ["x\ny\n", "gr\u{fc}\u{df}e\n\u{2603}", "", "\n"] {
            assert_eq!(to_lf(&to_crlf(text)), text, "round trip of {text:?}");
        }
    }
}
