//! HTML bodies (Intercom, Freshdesk, some Zendesk fields) to plain text, and
//! email leftovers trimmed: quoted reply chains and signatures.

/// Strips tags, turns block tags into line breaks and decodes common entities.
/// Quoted earlier messages (`<blockquote>`, Gmail's `gmail_quote` block) are
/// dropped: they repeat an older message, often the agent's.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Depth inside a quote; text inside is skipped.
    let mut quote_depth = 0usize;
    while let Some(lt) = rest.find('<') {
        if quote_depth == 0 {
            out.push_str(&rest[..lt]);
        }
        let after = &rest[lt..];
        match after.find('>') {
            Some(gt) => {
                let raw = after[1..gt].to_ascii_lowercase();
                let closing = raw.starts_with('/');
                let tag = raw.trim_start_matches('/');
                let name = tag
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap_or("");
                let is_quote = name == "blockquote"
                    || (name == "div" && tag.contains("gmail_quote") && !closing);
                if is_quote && !closing {
                    quote_depth += 1;
                } else if closing && name == "blockquote" {
                    quote_depth = quote_depth.saturating_sub(1);
                } else if quote_depth > 0 && name == "div" {
                    // A gmail_quote div ends the message: everything after it is quoted.
                    if !closing && !tag.contains("gmail_quote") {
                        quote_depth += 1;
                    } else if closing {
                        quote_depth = quote_depth.saturating_sub(1);
                    }
                }
                if matches!(
                    name,
                    "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "blockquote"
                ) {
                    out.push('\n');
                }
                rest = &after[gt + 1..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    let lines: Vec<&str> = decoded
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

/// Cuts a plain-text email body at the first recognisable quoted reply
/// chain or signature: `On … wrote:`, `-----Original Message-----`, a
/// `From:` header block, lines quoted with `>`, `在…写道：`, `发件人：`, the
/// `-- ` signature delimiter, and "Sent from my iPhone"-style footers. Text
/// before the cut is kept; a body that would become empty is kept whole.
pub fn trim_quoted(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let lower = t.to_lowercase();
        let starts_chain = (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || lower.contains("-----original message-----")
            || lower.starts_with("-----原始邮件-----")
            || (lower.starts_with("from:") && !kept.is_empty())
            || lower.starts_with("发件人：")
            || lower.starts_with("发件人:")
            || (t.starts_with('在') && (t.ends_with("写道：") || t.ends_with("写道:")))
            || line == "-- "
            || t == "--"
            || lower.starts_with("sent from my ")
            || lower.starts_with("get outlook for ")
            || t.starts_with("发自我的");
        if starts_chain {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    let out = kept.join("\n").trim().to_string();
    if out.is_empty() {
        text.trim().to_string()
    } else {
        out
    }
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    u32::from_str_radix(&name[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if name.starts_with('#') => {
                    name[1..].parse::<u32>().ok().and_then(char::from_u32)
                }
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_stripped_and_entities_decoded() {
        assert_eq!(
            html_to_text("<p>Hi&nbsp;there</p><p>I was charged &#36;20 &amp; more</p>"),
            "Hi there\nI was charged $20 & more"
        );
    }

    #[test]
    fn quoted_html_is_dropped() {
        assert_eq!(
            html_to_text("<p>Still broken.</p><blockquote><p>Agent: did you restart?</p></blockquote><p>Thanks</p>"),
            "Still broken.\nThanks"
        );
        assert_eq!(
            html_to_text("<div>New text</div><div class=\"gmail_quote\"><div>old <b>agent</b> text</div></div>"),
            "New text"
        );
    }

    #[test]
    fn reply_chains_and_signatures_are_trimmed() {
        let body = "The parcel never came.\nPlease help.\n\nOn Tue, 3 Sep 2026 at 10:00, Acme Support <help@acme.test> wrote:\n> We shipped it.";
        assert_eq!(trim_quoted(body), "The parcel never came.\nPlease help.");
        assert_eq!(
            trim_quoted("Broken again\n-- \nJane Doe\nACME Corp"),
            "Broken again"
        );
        assert_eq!(trim_quoted("Refund?\n\nSent from my iPhone"), "Refund?");
        assert_eq!(
            trim_quoted("还没收到退款\n\n在 2026年9月3日，客服 写道：\n> 已处理"),
            "还没收到退款"
        );
        assert_eq!(
            trim_quoted("Hi\n-----Original Message-----\nFrom: a@b"),
            "Hi"
        );
        assert_eq!(trim_quoted("> only quoted"), "> only quoted");
    }

    #[test]
    fn stray_angle_brackets_survive() {
        assert_eq!(html_to_text("a < b & c"), "a < b & c");
    }
}
