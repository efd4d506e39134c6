//! Gmail's actions on the Gmail API (`{api}/gmail/v1/users/me/...`): send an email (an RFC 5322
//! message built by lettre, so headers are encoded and folded by a library that knows how, sent
//! as base64url `raw`), search messages, read one. Google's errors are
//! `{"error": {"code", "message", "status", "errors": [{"reason"}]}}`; a 403 whose reason is
//! `rateLimitExceeded` or `userRateLimitExceeded` is a rate limit like a 429.

use std::sync::LazyLock;

use async_trait::async_trait;
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionCall, ActionError, ActionSpec, ProviderActions};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    fit_list, invalid, length, parse, rest_answer, spec, text_at, unreachable, url_with, within,
    Bounded, ACTION_TIME_LIMIT, MAX_TEXT_CHARS,
};
use crate::config::{ProviderConfig, ProviderSetupError};

/// The most recipients one email may have (to, cc and bcc together).
pub const MAX_RECIPIENTS: usize = 50;

/// Message metadata fetched at once during a search.
const PARALLEL_FETCHES: usize = 8;

/// An email sent from the connected Gmail account.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SendEmail {
    /// Recipients: one address or several separated by commas (`Ana <ana@example.com>, bo@example.com`).
    to: String,
    /// The subject (at most 250 characters).
    subject: String,
    /// The message, as plain text (at most 50,000 characters).
    body: String,
    /// Copy to these addresses (comma-separated).
    cc: Option<String>,
    /// Blind copy to these addresses (comma-separated).
    bcc: Option<String>,
    /// Where replies should go, if not to the sender.
    reply_to: Option<String>,
}

fn mailboxes(field: &str, value: &str) -> Result<Vec<Mailbox>, ActionError> {
    let parsed: Mailboxes = value
        .parse()
        .map_err(|_| invalid(field, "must be email addresses separated by commas"))?;
    let list: Vec<Mailbox> = parsed.into_iter().collect();
    if list.is_empty() {
        return Err(invalid(field, "must name at least one address"));
    }
    Ok(list)
}

impl SendEmail {
    fn recipients(&self) -> Result<[Vec<Mailbox>; 3], ActionError> {
        let optional = |field: &str, value: &Option<String>| {
            value
                .as_deref()
                .map_or(Ok(Vec::new()), |v| mailboxes(field, v))
        };
        let all = [
            mailboxes("to", &self.to)?,
            optional("cc", &self.cc)?,
            optional("bcc", &self.bcc)?,
        ];
        if all.iter().map(Vec::len).sum::<usize>() > MAX_RECIPIENTS {
            return Err(invalid(
                "to",
                &format!("at most {MAX_RECIPIENTS} recipients in to, cc and bcc together"),
            ));
        }
        Ok(all)
    }
}

impl Bounded for SendEmail {
    fn check(&self) -> Result<(), ActionError> {
        length("to", &self.to, 3, 5_000)?;
        self.recipients()?;
        if let Some(reply_to) = &self.reply_to {
            reply_to
                .parse::<Mailbox>()
                .map_err(|_| invalid("replyTo", "must be one email address"))?;
        }
        length("subject", &self.subject, 0, 250)?;
        if self.subject.chars().any(char::is_control) {
            return Err(invalid("subject", "must be one line"));
        }
        length("body", &self.body, 1, MAX_TEXT_CHARS)
    }
}

/// A search of the mailbox.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SearchMessages {
    /// Gmail's search syntax, as in its search box: `from:ana@example.com newer_than:7d`,
    /// `subject:invoice is:unread`.
    query: String,
    /// How many (1 to 25, default 10).
    max_results: Option<u32>,
}

impl Bounded for SearchMessages {
    fn check(&self) -> Result<(), ActionError> {
        length("query", &self.query, 1, 500)?;
        if let Some(max) = self.max_results {
            within("maxResults", max, 1..=25)?;
        }
        Ok(())
    }
}

/// One message, by id.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadMessage {
    /// The message's id, from search-messages.
    id: String,
}

impl Bounded for ReadMessage {
    fn check(&self) -> Result<(), ActionError> {
        length("id", &self.id, 1, 100)?;
        if !self
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid("id", "must be a Gmail message id"));
        }
        Ok(())
    }
}

static CATALOG: LazyLock<Vec<ActionSpec>> = LazyLock::new(|| {
    vec![
        spec::<SendEmail>(
            "send-email",
            "Send a plain-text email from the connected Gmail account, with optional cc, bcc and reply-to.",
            true,
        ),
        spec::<SearchMessages>(
            "search-messages",
            "Search the connected Gmail mailbox with Gmail's search syntax; answers each message's id, sender, subject, date and snippet.",
            false,
        ),
        spec::<ReadMessage>(
            "read-message",
            "Read one Gmail message by id: its headers and text (long texts are cut, and say so).",
            false,
        ),
    ]
});

/// Gmail's actions.
pub struct GmailActions {
    http: reqwest::Client,
    api: String,
}

/// The actions of a configured Gmail provider.
pub fn actions(config: &ProviderConfig) -> Result<GmailActions, ProviderSetupError> {
    Ok(GmailActions {
        http: crate::http::client(ProviderId::Gmail)?,
        api: config.api_base_url.clone(),
    })
}

/// Google's error body: the first error's reason (else the status) and the message.
fn read_error(body: &Value) -> (Option<String>, Option<String>) {
    let text = |pointer: &str| text_at(body, pointer);
    (
        text("/error/errors/0/reason").or_else(|| text("/error/status")),
        text("/error/message"),
    )
}

/// The value of header `name` in a message payload.
fn header<'a>(payload: &'a Value, name: &str) -> Option<&'a str> {
    payload
        .get("headers")?
        .as_array()?
        .iter()
        .find(|h| {
            h.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })?
        .get("value")?
        .as_str()
}

/// A part's body data, decoded (Gmail sends base64url, with or without padding).
fn body_text(part: &Value) -> Option<String> {
    let data = part.pointer("/body/data")?.as_str()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The first part of `mime` type in the message tree, depth first.
fn find_part<'a>(part: &'a Value, mime: &str) -> Option<&'a Value> {
    let is = part.get("mimeType").and_then(Value::as_str) == Some(mime);
    if is && part.pointer("/body/data").is_some() {
        return Some(part);
    }
    part.get("parts")?
        .as_array()?
        .iter()
        .find_map(|p| find_part(p, mime))
}

/// Attachment file names in the message tree.
fn attachments(part: &Value, names: &mut Vec<String>) {
    if let Some(name) = part.get("filename").and_then(Value::as_str) {
        if !name.is_empty() {
            names.push(name.to_owned());
        }
    }
    for p in part
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        attachments(p, names);
    }
}

/// The most HTML that is turned into text: more than any readable message needs, and a
/// bound on the work a hostile message can cause.
const MAX_HTML_BYTES: usize = 1024 * 1024;

/// HTML as text, for messages that have no plain-text part: script and style dropped, tags
/// removed, the common entities decoded, blank runs collapsed. One pass over at most
/// [`MAX_HTML_BYTES`] (searched in one lowercase copy, whose byte offsets are the same); a
/// reading aid for the GPT, never rendered anywhere.
fn html_to_text(html: &str) -> String {
    let html = &html[..floor_char_boundary(html, MAX_HTML_BYTES)];
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut at = 0;
    while let Some(offset) = lower[at..].find('<') {
        let start = at + offset;
        out.push_str(&html[at..start]);
        let tag = &lower[start..];
        // Script and style: everything up to their end tag goes.
        let skipped = ["script", "style"].iter().find_map(|name| {
            tag[1..].starts_with(name).then(|| {
                let close = format!("</{name}");
                tag.find(&close)
                    .map_or(lower.len(), |i| start + i + close.len())
            })
        });
        let from = skipped.unwrap_or(start);
        let end = lower[from..]
            .find('>')
            .map_or(lower.len(), |i| from + i + 1);
        // Bytes, not a str slice: the tag may hold non-ASCII characters, and a slice boundary
        // inside one would panic.
        let name = &lower.as_bytes()[start + 1..end.min(start + 5).max(start + 1)];
        if ["br", "p>", "p ", "/p>", "div", "/div", "li>", "tr>", "tr "]
            .iter()
            .any(|t| name.starts_with(t.as_bytes()))
        {
            out.push('\n');
        }
        at = end;
    }
    out.push_str(&html[at..]);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let mut text = String::with_capacity(decoded.len());
    let mut blank_lines = 0;
    for line in decoded.lines().map(str::trim) {
        if line.is_empty() {
            blank_lines += 1;
            if blank_lines > 1 {
                continue;
            }
        } else {
            blank_lines = 0;
        }
        text.push_str(line);
        text.push('\n');
    }
    text.trim().to_owned()
}

/// The largest char boundary of `text` at or below `max`.
fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    (0..=max)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}

/// `text` without control characters (a header or file name is one line; escaped, one
/// would weigh six characters), cut to `max` characters.
fn short(text: Option<&str>, max: usize) -> Option<String> {
    text.map(|t| t.chars().filter(|c| !c.is_control()).take(max).collect())
}

/// `text` cut to [`MAX_TEXT_CHARS`], and whether it was.
fn cut(text: String) -> (String, bool) {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => (text[..at].to_owned(), true),
        None => (text, false),
    }
}

impl GmailActions {
    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, ActionError> {
        let mut all = vec!["gmail", "v1", "users", "me"];
        all.extend_from_slice(segments);
        url_with(&self.api, &all)
    }

    async fn send(
        &self,
        call: &ActionCall<'_>,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ActionError> {
        let response = request
            .bearer_auth(call.access_token.expose_secret())
            .timeout(ACTION_TIME_LIMIT)
            .send()
            .await
            .map_err(unreachable)?;
        match rest_answer(response, "Gmail", read_error).await {
            Err(ActionError::Rejected { code, .. })
                if code == "rateLimitExceeded" || code == "userRateLimitExceeded" =>
            {
                Err(ActionError::RateLimited { retry_after: None })
            }
            Err(ActionError::Rejected { code, .. }) if code == "insufficientPermissions" => {
                Err(ActionError::Rejected {
                    code,
                    message: Some(
                        "This Gmail account was connected without this permission; connect it again."
                            .into(),
                    ),
                })
            }
            answer => answer,
        }
    }

    async fn send_email(&self, call: &ActionCall<'_>) -> Result<Value, ActionError> {
        let p: SendEmail = parse(call.params)?;
        let [to, cc, bcc] = p.recipients()?;
        let from: Mailbox = call
            .metadata
            .get("email")
            .and_then(Value::as_str)
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| ActionError::Rejected {
                code: "no_sender_address".into(),
                message: Some(
                    "gptgate does not know this Gmail account's address; connect it again.".into(),
                ),
            })?;
        let mut message = lettre::Message::builder()
            .from(from)
            .subject(p.subject)
            .keep_bcc();
        for m in to {
            message = message.to(m);
        }
        for m in cc {
            message = message.cc(m);
        }
        for m in bcc {
            message = message.bcc(m);
        }
        if let Some(reply_to) = p.reply_to.as_deref().and_then(|r| r.parse().ok()) {
            message = message.reply_to(reply_to);
        }
        let message = message
            .header(ContentType::TEXT_PLAIN)
            .body(p.body)
            .map_err(|e| invalid("to", &format!("cannot build the email: {e}")))?;
        let raw = base64::engine::general_purpose::URL_SAFE.encode(message.formatted());
        let sent = self
            .send(
                call,
                self.http
                    .post(self.url(&["messages", "send"])?)
                    .json(&json!({ "raw": raw })),
            )
            .await?;
        Ok(json!({ "id": sent.get("id"), "threadId": sent.get("threadId") }))
    }

    async fn search(&self, call: &ActionCall<'_>) -> Result<Value, ActionError> {
        let p: SearchMessages = parse(call.params)?;
        let max = p.max_results.unwrap_or(10);
        let listed = self
            .send(
                call,
                self.http
                    .get(self.url(&["messages"])?)
                    .query(&[("q", p.query.as_str()), ("maxResults", &max.to_string())]),
            )
            .await?;
        let ids: Vec<String> = listed
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
            .take(max as usize)
            .collect();
        let messages: Vec<Value> = futures::stream::iter(ids)
            .map(|id| async move {
                let url = self.url(&["messages", &id])?;
                let message = self
                    .send(
                        call,
                        self.http.get(url).query(&[
                            ("format", "metadata"),
                            ("metadataHeaders", "From"),
                            ("metadataHeaders", "Subject"),
                            ("metadataHeaders", "Date"),
                        ]),
                    )
                    .await?;
                let payload = message.get("payload").unwrap_or(&Value::Null);
                Ok::<_, ActionError>(json!({
                    "id": id,
                    "threadId": message.get("threadId"),
                    "from": header(payload, "From"),
                    "subject": header(payload, "Subject"),
                    "date": header(payload, "Date"),
                    "snippet": message.get("snippet"),
                }))
            })
            .buffered(PARALLEL_FETCHES)
            .try_collect()
            .await?;
        let more = listed
            .get("nextPageToken")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty());
        Ok(fit_list("messages", messages, more))
    }

    async fn read(&self, call: &ActionCall<'_>) -> Result<Value, ActionError> {
        let p: ReadMessage = parse(call.params)?;
        let message = self
            .send(
                call,
                self.http
                    .get(self.url(&["messages", &p.id])?)
                    .query(&[("format", "full")]),
            )
            .await?;
        let payload = message.get("payload").unwrap_or(&Value::Null);
        let text = match find_part(payload, "text/plain").and_then(body_text) {
            Some(text) => text,
            None => find_part(payload, "text/html")
                .and_then(body_text)
                .map(|html| html_to_text(&html))
                .unwrap_or_default(),
        };
        let (mut text, mut text_cut) = cut(text);
        let mut files = Vec::new();
        attachments(payload, &mut files);
        files.truncate(50);
        let files: Vec<String> = files
            .iter()
            .map(|f| f.chars().take(200).collect())
            .collect();
        let header = |name| short(header(payload, name), 2_000);
        loop {
            let result = json!({
                "id": short(message.get("id").and_then(Value::as_str), 100),
                "threadId": short(message.get("threadId").and_then(Value::as_str), 100),
                "from": header("From"),
                "to": header("To"),
                "cc": header("Cc"),
                "subject": header("Subject"),
                "date": header("Date"),
                "text": text,
                "textCut": text_cut,
                "attachments": files,
            });
            // Escapes (quotes, control characters) can make the text weigh more than its
            // characters: cut further until the whole result fits.
            let weight = result.to_string().chars().count();
            if weight <= super::MAX_RESULT_CHARS || text.is_empty() {
                return Ok(result);
            }
            let text_weight = Value::String(text.clone()).to_string().chars().count();
            let room = super::MAX_RESULT_CHARS.saturating_sub(weight - text_weight);
            let chars = text.chars().count();
            let keep = (chars * room / text_weight.max(1)).min(chars - 1);
            text = text.chars().take(keep).collect();
            text_cut = true;
        }
    }
}

#[async_trait]
impl ProviderActions for GmailActions {
    fn provider(&self) -> ProviderId {
        ProviderId::Gmail
    }

    fn catalog(&self) -> &[ActionSpec] {
        &CATALOG
    }

    fn check(&self, action: &str, params: &Value) -> Result<(), ActionError> {
        match action {
            "send-email" => parse::<SendEmail>(params).map(drop),
            "search-messages" => parse::<SearchMessages>(params).map(drop),
            _ => parse::<ReadMessage>(params).map(drop),
        }
    }

    async fn run(&self, action: &str, call: ActionCall<'_>) -> Result<Value, ActionError> {
        match action {
            "send-email" => self.send_email(&call).await,
            "search-messages" => self.search(&call).await,
            _ => self.read(&call).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_readable_text() {
        let html = "<html><head><style>p{color:red}</style><script>alert(1)</script></head>\
            <body><p>Hello&nbsp;Ana,</p><p>Your invoice &amp; receipt:</p><br>\
            <a href=\"https://x.example\">link</a><div>3 &lt; 4</div></body></html>";
        let text = html_to_text(html);
        assert!(!text.contains("alert"), "{text}");
        assert!(!text.contains("color"), "{text}");
        assert!(!text.contains('<') || text.contains("3 < 4"), "{text}");
        assert!(text.contains("Hello Ana,"), "{text}");
        assert!(text.contains("Your invoice & receipt:"), "{text}");
        assert!(text.contains("link"), "{text}");
        assert!(text.contains("3 < 4"), "{text}");
        assert_eq!(html_to_text("<p>unclosed <b"), "unclosed");
        assert_eq!(html_to_text("<SCRIPT>x()</SCRIPT>ok"), "ok");
        assert_eq!(html_to_text("<script>never closed"), "");
        assert_eq!(
            html_to_text("<p>a</p><style>x</style><style>y</style>b"),
            "a\nb"
        );
        assert_eq!(html_to_text("a<br>b<BR/>c"), "a\nb\nc");
        // Non-ASCII inside and right after a tag's first bytes.
        assert_eq!(html_to_text("x<abcé>y"), "xy");
        assert_eq!(
            html_to_text("<!--日本-->こんにちは<p>é</p>"),
            "こんにちは\né"
        );
        assert_eq!(html_to_text("<é"), "");
        assert_eq!(html_to_text("<"), "");
        assert_eq!(html_to_text("日<"), "日");
    }

    #[test]
    fn only_the_first_mebibyte_of_html_is_read() {
        let at_limit = format!("{}{}", "x".repeat(MAX_HTML_BYTES - 1), "é");
        // "é" is two bytes: it does not fit, and the cut stays on a char boundary.
        assert_eq!(html_to_text(&at_limit).len(), MAX_HTML_BYTES - 1);
        let hostile = "<style></style>".repeat(MAX_HTML_BYTES / 15 + 10) + "tail";
        assert_eq!(html_to_text(&hostile), "");
        let fits = "a".repeat(MAX_HTML_BYTES);
        assert_eq!(html_to_text(&fits).len(), MAX_HTML_BYTES);
        assert_eq!(html_to_text(&(fits.clone() + "b")), fits);
    }

    #[test]
    fn a_long_text_is_cut_at_the_limit() {
        let exactly = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(cut(exactly.clone()), (exactly.clone(), false));
        let (text, was_cut) = cut(format!("{exactly}x"));
        assert_eq!((text, was_cut), (exactly, true));
    }
}
