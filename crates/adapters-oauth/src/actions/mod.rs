//! Provider actions (the `ProviderActions` port), one module per provider, and what they
//! share: params parsed into typed structs that name the field at fault, the structs' JSON
//! Schema for the catalog, bounds, results cut to fit ChatGPT's limit, and the time limit.

pub mod gmail;
pub mod linear;
pub mod mercury;
pub mod slack;
pub mod zoho;

use std::time::Duration;

use gptgate_ports::{ActionError, ActionSpec};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The longest a provider call of an action may take, connection included.
pub const ACTION_TIME_LIMIT: Duration = Duration::from_secs(20);

/// The longest text an action returns in one field (a message body...): with the rest of a
/// result, well inside ChatGPT's 100,000 characters.
pub const MAX_TEXT_CHARS: usize = 50_000;

/// The most a result may weigh, serialized: ChatGPT refuses more than 100,000 characters,
/// and the answer's envelope needs a little room.
pub const MAX_RESULT_CHARS: usize = 90_000;

/// `{key: items, "more": more}`, keeping as many items as fit [`MAX_RESULT_CHARS`]; `more`
/// is also true when some had to be left out.
pub(crate) fn fit_list(key: &str, items: Vec<Value>, more: bool) -> Value {
    let mut used = 0;
    let total = items.len();
    let kept: Vec<Value> = items
        .into_iter()
        .take_while(|item| {
            used += item.to_string().chars().count() + 1;
            used <= MAX_RESULT_CHARS
        })
        .collect();
    let cut = kept.len() < total;
    let mut result = serde_json::Map::new();
    result.insert(key.to_owned(), Value::Array(kept));
    result.insert("more".to_owned(), Value::Bool(more || cut));
    Value::Object(result)
}

/// Params that have bounds beyond their types.
pub(crate) trait Bounded {
    fn check(&self) -> Result<(), ActionError> {
        Ok(())
    }
}

/// The catalog entry of an action whose params are `P`.
pub(crate) fn spec<P: JsonSchema>(
    name: &'static str,
    description: &'static str,
    consequential: bool,
) -> ActionSpec {
    ActionSpec {
        name,
        description,
        params: schema::<P>(),
        consequential,
    }
}

/// The JSON Schema of `P`, as an OpenAPI 3.1 schema object (no `$schema`, no `title`), with
/// every subschema inline: it is embedded in operations, where `#/$defs/...` means nothing.
pub(crate) fn schema<P: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut value =
        serde_json::to_value(generator.into_root_schema_for::<P>()).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    value
}

/// `params` as `P`, within its bounds; an error names the field at fault and never echoes a
/// value sent.
pub(crate) fn parse<P: DeserializeOwned + Bounded>(params: &Value) -> Result<P, ActionError> {
    let parsed: P = serde_path_to_error::deserialize(params).map_err(|e| {
        let path = e.path().to_string();
        invalid_params(&path, &e.inner().to_string())
    })?;
    parsed.check()?;
    Ok(parsed)
}

/// A serde error at `path` as a refusal naming the field (a missing field is named by the
/// message, under the path of its object); a wrong value keeps only what was expected.
fn invalid_params(path: &str, message: &str) -> ActionError {
    let parent = if path == "." { "" } else { path };
    let join = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if let Some(name) = message
        .strip_prefix("missing field ")
        .and_then(|_| quoted(message))
    {
        return invalid(&join(&name), "is required");
    }
    if message.starts_with("unknown field ") {
        // The path already ends at the unknown field.
        return invalid(parent, "is not a parameter of this action");
    }
    let expected = message
        .find("expected ")
        .map_or("has the wrong type or value", |i| &message[i..]);
    invalid(parent, &format!("has the wrong type or value: {expected}"))
}

pub(crate) fn invalid(field: &str, message: &str) -> ActionError {
    ActionError::InvalidParams {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// `value` within `range`, or a refusal naming `field`.
pub(crate) fn within<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), ActionError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            &format!("must be from {} to {}", range.start(), range.end()),
        ))
    }
}

/// `text` of `min..=max` characters, or a refusal naming `field`.
pub(crate) fn length(field: &str, text: &str, min: usize, max: usize) -> Result<(), ActionError> {
    let n = text.chars().count();
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(invalid(
            field,
            &format!("must be {min} to {max} characters (got {n})"),
        ))
    }
}

/// A provider call that failed before it was answered.
pub(crate) fn unreachable(e: reqwest::Error) -> ActionError {
    ActionError::Unavailable(Box::new(e.without_url()))
}

pub use crate::http::MAX_ANSWER_BYTES;

/// The provider's answer as JSON, read up to [`MAX_ANSWER_BYTES`].
pub(crate) async fn json_body(response: reqwest::Response) -> Result<Value, ActionError> {
    crate::http::read_json(response).await.map_err(|e| match e {
        crate::http::AnswerError::TooLarge => ActionError::Rejected {
            code: "answer_too_large".into(),
            message: Some(format!(
                "The provider's answer is larger than gptgate reads ({} MiB).",
                MAX_ANSWER_BYTES / 1024 / 1024
            )),
        },
        other => ActionError::Unavailable(Box::new(other)),
    })
}

/// The string at `pointer` in `body`, if there is one.
pub(crate) fn text_at(body: &Value, pointer: &str) -> Option<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The most of a provider's own words passed on to the caller.
pub(crate) const MAX_PROVIDER_WORDS: usize = 500;

/// A provider's error message as the caller sees it: at most `MAX_PROVIDER_WORDS` characters.
pub(crate) fn provider_words(message: &str) -> String {
    message.chars().take(MAX_PROVIDER_WORDS).collect()
}

/// How a provider's error body reads: its error code and its words, if it says them.
pub(crate) type ReadError = fn(&Value) -> (Option<String>, Option<String>);

/// A REST answer: its JSON body on success; 401 a refused token, 429 a rate limit, 5xx an
/// outage, another 4xx a refusal with the provider's code and words (`read_error`).
pub(crate) async fn rest_answer(
    response: reqwest::Response,
    provider: &str,
    read_error: ReadError,
) -> Result<Value, ActionError> {
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(ActionError::Unauthorized);
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(ActionError::RateLimited {
            retry_after: retry_after(response.headers()),
        });
    }
    if status.is_server_error() {
        return Err(ActionError::Unavailable(
            format!("{provider} answered {status}").into(),
        ));
    }
    if status.is_success() {
        return json_body(response).await;
    }
    let body: Value = json_body(response).await.unwrap_or(Value::Null);
    let (code, message) = read_error(&body);
    Err(ActionError::Rejected {
        code: code.unwrap_or_else(|| format!("http_{}", status.as_u16())),
        message: message.as_deref().map(provider_words),
    })
}

/// `base` with `segments` appended, each percent-encoded as one segment: an id from the GPT
/// can never climb out of its place in the path (`../`).
pub(crate) fn url_with(base: &str, segments: &[&str]) -> Result<reqwest::Url, ActionError> {
    // The URL parser drops tabs and line breaks, so `.\t.` would become `..`: refuse them,
    // and dot segments, before it sees them.
    if segments
        .iter()
        .any(|s| s.is_empty() || s.chars().any(char::is_control) || matches!(s.trim(), "." | ".."))
    {
        return Err(ActionError::Rejected {
            code: "invalid_id".into(),
            message: Some("An id is empty, a dot segment or holds control characters.".into()),
        });
    }
    let mut url = reqwest::Url::parse(base).map_err(|e| ActionError::Unavailable(Box::new(e)))?;
    url.path_segments_mut()
        .map_err(|()| ActionError::Unavailable("the API base URL cannot take a path".into()))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// `Retry-After` in seconds, if the provider sent it.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<time::Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .map(time::Duration::seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, JsonSchema, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Example {
        team_id: String,
        limit: Option<u32>,
        nested: Option<Inner>,
    }

    #[derive(Deserialize, JsonSchema, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    impl Bounded for Example {}

    fn field(params: Value) -> String {
        match parse::<Example>(&params) {
            Err(ActionError::InvalidParams { field, message }) => {
                assert!(
                    !message.contains("123456"),
                    "never echoes a value: {message}"
                );
                field
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refusal_names_the_field_at_fault() {
        assert_eq!(field(json!({})), "teamId");
        assert_eq!(field(json!({ "teamId": "t", "colour": 1 })), "colour");
        assert_eq!(field(json!({ "teamId": 123456 })), "teamId");
        assert_eq!(field(json!({ "teamId": "t", "limit": "123456" })), "limit");
        assert_eq!(field(json!({ "teamId": "t", "nested": {} })), "nested.name");
        assert_eq!(field(json!("123456")), "");
        assert!(parse::<Example>(&json!({ "teamId": "t" })).is_ok());
    }

    #[test]
    fn the_schema_is_an_openapi_object_schema() {
        let schema = schema::<Example>();
        assert_eq!(schema["type"], "object");
        assert!(schema.get("$schema").is_none());
        assert!(schema.get("title").is_none());
        assert_eq!(schema["required"], json!(["teamId"]));
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    #[test]
    fn an_id_from_the_gpt_stays_one_path_segment() {
        let url = url_with(
            "https://api.example.com/api/v1/",
            &["account", "../../admin?x=1#y", "transactions"],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.example.com/api/v1/account/..%2F..%2Fadmin%3Fx=1%23y/transactions"
        );
        assert_eq!(url.path_segments().unwrap().count(), 5);
        for hostile in ["..", ".", ".\t.", "..\n", "", "a\rb", " .. "] {
            assert!(
                matches!(
                    url_with("https://api.example.com/v1", &["account", hostile, "x"]),
                    Err(ActionError::Rejected { ref code, .. }) if code == "invalid_id"
                ),
                "{hostile:?}"
            );
        }
        assert!(url_with("https://api.example.com/v1", &["a..b"]).is_ok());
    }

    #[test]
    fn a_list_keeps_what_fits_and_says_it_was_cut() {
        let item = |n: usize| json!("x".repeat(n));
        // Each item weighs its serialized length (n + 2 quotes) plus a separator.
        let exactly = vec![
            item(MAX_RESULT_CHARS / 2 - 3),
            item(MAX_RESULT_CHARS / 2 - 3),
        ];
        let fitted = fit_list("items", exactly, false);
        assert_eq!(fitted["items"].as_array().unwrap().len(), 2);
        assert_eq!(fitted["more"], false);
        let one_more = vec![
            item(MAX_RESULT_CHARS / 2 - 3),
            item(MAX_RESULT_CHARS / 2 - 2),
        ];
        let fitted = fit_list("items", one_more, false);
        assert_eq!(fitted["items"].as_array().unwrap().len(), 1);
        assert_eq!(fitted["more"], true);
        assert_eq!(fit_list("items", vec![], true)["more"], true);
        assert!(
            fit_list("items", vec![item(200_000)], false)
                .to_string()
                .len()
                < 100_000
        );
    }

    #[test]
    fn bounds_are_checked_at_both_ends() {
        assert!(within("limit", 1, 1..=25).is_ok());
        assert!(within("limit", 25, 1..=25).is_ok());
        assert!(within("limit", 0, 1..=25).is_err());
        assert!(within("limit", 26, 1..=25).is_err());
        assert!(length("title", "é", 1, 1).is_ok());
        assert!(length("title", "", 1, 1).is_err());
        assert!(length("title", "ab", 1, 1).is_err());
    }
}
