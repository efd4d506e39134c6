//! Zoho CRM's actions (API v8), sent to the account's own data centre: the `api_domain` Zoho
//! named when the account was connected (kept in its metadata as `apiDomain`), and only if it
//! is one of Zoho's API domains or the configured one, since it receives the access token.
//! Zoho's header is `Authorization: Zoho-oauthtoken <token>`; its errors are
//! `{"code", "message", "status": "error"}`, per record inside `data[]` for writes; a search
//! that finds nothing answers 204 with no body.

use std::sync::LazyLock;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionCall, ActionError, ActionSpec, ProviderActions};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    fit_list, invalid, length, parse, provider_words, retry_after, spec, text_at, unreachable,
    url_with, within, Bounded, ACTION_TIME_LIMIT,
};
use crate::config::{ProviderConfig, ProviderSetupError};

/// Zoho's API domains, one per data centre.
pub const API_DOMAINS: [&str; 8] = [
    "https://www.zohoapis.com",
    "https://www.zohoapis.eu",
    "https://www.zohoapis.in",
    "https://www.zohoapis.com.au",
    "https://www.zohoapis.jp",
    "https://www.zohoapis.com.cn",
    "https://www.zohoapis.sa",
    "https://www.zohoapis.ca",
];

/// A lead in Zoho CRM.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateLead {
    /// The person's last name.
    last_name: String,
    /// Their company.
    company: String,
    /// Their email address.
    email: Option<String>,
    /// Their phone number.
    phone: Option<String>,
    /// Their first name.
    first_name: Option<String>,
}

impl Bounded for CreateLead {
    fn check(&self) -> Result<(), ActionError> {
        length("lastName", &self.last_name, 1, 80)?;
        length("company", &self.company, 1, 200)?;
        if let Some(first) = &self.first_name {
            length("firstName", first, 1, 40)?;
        }
        if let Some(email) = &self.email {
            length("email", email, 3, 100)?;
            if !email.contains('@') {
                return Err(invalid("email", "must be an email address"));
            }
        }
        if let Some(phone) = &self.phone {
            length("phone", phone, 1, 30)?;
        }
        Ok(())
    }
}

/// A CRM module.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy)]
enum Module {
    Leads,
    Contacts,
    Accounts,
    Deals,
}

impl Module {
    fn name(self) -> &'static str {
        match self {
            Module::Leads => "Leads",
            Module::Contacts => "Contacts",
            Module::Accounts => "Accounts",
            Module::Deals => "Deals",
        }
    }
}

/// A search in one module, by criteria or by a word.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SearchRecords {
    /// Where to search.
    module: Module,
    /// Zoho's criteria, such as `(Last_Name:equals:Burns)` or
    /// `((Company:starts_with:Acme)and(Lead_Status:equals:Contacted))`. Give this or `word`.
    criteria: Option<String>,
    /// A word to look for in every text field. Give this or `criteria`.
    word: Option<String>,
    /// How many (1 to 50, default 10).
    limit: Option<u32>,
}

impl Bounded for SearchRecords {
    fn check(&self) -> Result<(), ActionError> {
        match (&self.criteria, &self.word) {
            (Some(criteria), None) => length("criteria", criteria, 3, 1_000)?,
            (None, Some(word)) => length("word", word, 2, 100)?,
            (Some(_), Some(_)) => return Err(invalid("word", "give criteria or word, not both")),
            (None, None) => return Err(invalid("criteria", "is required (or word)")),
        }
        if let Some(limit) = self.limit {
            within("limit", limit, 1..=50)?;
        }
        Ok(())
    }
}

static CATALOG: LazyLock<Vec<ActionSpec>> = LazyLock::new(|| {
    vec![
        spec::<CreateLead>(
            "create-lead",
            "Create a lead in the connected Zoho CRM (last name and company required).",
            true,
        ),
        spec::<SearchRecords>(
            "search-records",
            "Search Zoho CRM leads, contacts, accounts or deals by criteria such as (Email:equals:ana@example.com) or by a word.",
            false,
        ),
    ]
});

/// Zoho CRM's actions.
pub struct ZohoActions {
    http: reqwest::Client,
    /// The configured API base, used when an account names no domain.
    api: String,
}

/// The actions of a configured Zoho provider.
pub fn actions(config: &ProviderConfig) -> Result<ZohoActions, ProviderSetupError> {
    Ok(ZohoActions {
        http: crate::http::client(ProviderId::Zoho)?,
        api: config.api_base_url.trim_end_matches('/').to_owned(),
    })
}

fn origin(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

/// Zoho's error body: its `code` and `message`, at the top or in the first record.
fn read_error(body: &Value) -> (Option<String>, Option<String>) {
    let text = |pointer: &str| text_at(body, pointer);
    (
        text("/code").or_else(|| text("/data/0/code")),
        text("/message").or_else(|| text("/data/0/message")),
    )
}

/// The fields of a record worth showing: set, and not Zoho's internal `$` fields.
fn record(value: &Value) -> Value {
    Value::Object(
        value
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Map<_, _>>(),
    )
}

impl ZohoActions {
    /// The account's API domain, if it is one Zoho runs (or the configured one).
    fn domain(&self, metadata: &Map<String, Value>) -> Result<String, ActionError> {
        let Some(named) = metadata.get("apiDomain").and_then(Value::as_str) else {
            return Ok(self.api.clone());
        };
        let named = origin(named);
        let allowed = API_DOMAINS
            .iter()
            .copied()
            .chain(std::iter::once(self.api.as_str()))
            .filter_map(origin);
        match named {
            Some(named) if allowed.into_iter().any(|a| a == named) => Ok(named),
            _ => Err(ActionError::Rejected {
                code: "untrusted_api_domain".into(),
                message: Some(
                    "This Zoho account names an API domain gptgate does not know; reconnect it."
                        .into(),
                ),
            }),
        }
    }

    async fn send(
        &self,
        call: &ActionCall<'_>,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<Value>, ActionError> {
        let response = request
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Zoho-oauthtoken {}", call.access_token.expose_secret()),
            )
            .timeout(ACTION_TIME_LIMIT)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ActionError::RateLimited {
                retry_after: retry_after(response.headers()),
            });
        }
        if status.is_server_error() {
            return Err(ActionError::Unavailable(
                format!("Zoho answered {status}").into(),
            ));
        }
        let body = super::json_body(response).await;
        if status.is_success() {
            return body.map(Some);
        }
        let body = body.unwrap_or(Value::Null);
        let (code, message) = read_error(&body);
        Err(match code.as_deref() {
            Some("INVALID_TOKEN" | "AUTHENTICATION_FAILURE") => ActionError::Unauthorized,
            Some("TOO_MANY_REQUESTS") => ActionError::RateLimited { retry_after: None },
            Some("OAUTH_SCOPE_MISMATCH") => ActionError::Rejected {
                code: "OAUTH_SCOPE_MISMATCH".into(),
                message: Some(
                    "This Zoho account was connected without access to Zoho CRM; connect it again."
                        .into(),
                ),
            },
            _ if status == reqwest::StatusCode::UNAUTHORIZED => ActionError::Unauthorized,
            _ => ActionError::Rejected {
                code: code.unwrap_or_else(|| format!("http_{}", status.as_u16())),
                message: message.as_deref().map(provider_words),
            },
        })
    }
}

#[async_trait]
impl ProviderActions for ZohoActions {
    fn provider(&self) -> ProviderId {
        ProviderId::Zoho
    }

    fn catalog(&self) -> &[ActionSpec] {
        &CATALOG
    }

    fn check(&self, action: &str, params: &Value) -> Result<(), ActionError> {
        match action {
            "create-lead" => parse::<CreateLead>(params).map(drop),
            _ => parse::<SearchRecords>(params).map(drop),
        }
    }

    async fn run(&self, action: &str, call: ActionCall<'_>) -> Result<Value, ActionError> {
        let domain = self.domain(call.metadata)?;
        match action {
            "create-lead" => {
                let p: CreateLead = parse(call.params)?;
                let mut lead = json!({ "Last_Name": p.last_name, "Company": p.company });
                for (field, value) in [
                    ("First_Name", p.first_name),
                    ("Email", p.email),
                    ("Phone", p.phone),
                ] {
                    if let Some(value) = value {
                        lead[field] = json!(value);
                    }
                }
                let url = url_with(&domain, &["crm", "v8", "Leads"])?;
                let body = self
                    .send(&call, self.http.post(url).json(&json!({ "data": [lead] })))
                    .await?
                    .unwrap_or(Value::Null);
                let created = body.pointer("/data/0").cloned().unwrap_or(Value::Null);
                if created.get("status").and_then(Value::as_str) != Some("success") {
                    let (code, message) = read_error(&body);
                    return Err(ActionError::Rejected {
                        code: code.unwrap_or_else(|| "not_created".into()),
                        message: message.as_deref().map(provider_words),
                    });
                }
                Ok(json!({ "id": created.pointer("/details/id") }))
            }
            _ => {
                let p: SearchRecords = parse(call.params)?;
                let limit = p.limit.unwrap_or(10);
                let mut query = vec![("per_page", limit.to_string())];
                match (p.criteria, p.word) {
                    (Some(criteria), _) => query.push(("criteria", criteria)),
                    (_, Some(word)) => query.push(("word", word)),
                    _ => {}
                }
                let url = url_with(&domain, &["crm", "v8", p.module.name(), "search"])?;
                let Some(body) = self.send(&call, self.http.get(url).query(&query)).await? else {
                    return Ok(json!({ "records": [], "more": false }));
                };
                let records = body
                    .get("data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .take(limit as usize)
                    .map(record)
                    .collect();
                let more = body.pointer("/info/more_records") == Some(&json!(true));
                Ok(fit_list("records", records, more))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoho() -> ZohoActions {
        ZohoActions {
            http: reqwest::Client::new(),
            api: "https://www.zohoapis.com".into(),
        }
    }

    fn domain_of(named: Option<&str>) -> Result<String, ActionError> {
        let mut metadata = Map::new();
        if let Some(named) = named {
            metadata.insert("apiDomain".into(), json!(named));
        }
        zoho().domain(&metadata)
    }

    #[test]
    fn calls_go_to_zohos_own_domains_only() {
        assert_eq!(domain_of(None).unwrap(), "https://www.zohoapis.com");
        for domain in API_DOMAINS {
            assert_eq!(domain_of(Some(domain)).unwrap(), domain);
        }
        assert_eq!(
            domain_of(Some("https://www.zohoapis.eu/")).unwrap(),
            "https://www.zohoapis.eu"
        );
        for hostile in [
            "https://www.zohoapis.eu.attacker.example",
            "http://www.zohoapis.eu",
            "https://attacker.example",
            "not a url",
            "",
        ] {
            assert!(
                matches!(domain_of(Some(hostile)), Err(ActionError::Rejected { ref code, .. }) if code == "untrusted_api_domain"),
                "{hostile}"
            );
        }
    }
}
