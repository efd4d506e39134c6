//! Mercury's actions: read only (accounts and their transactions); nothing that moves money.
//! The REST API at `{api}/accounts` and `{api}/account/{id}/transactions`, with the OAuth
//! access token as Bearer. Account and routing numbers are never returned.

use std::sync::LazyLock;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionCall, ActionError, ActionSpec, ProviderActions};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    fit_list, invalid, length, parse, rest_answer, spec, text_at, unreachable, url_with, within,
    Bounded, ACTION_TIME_LIMIT,
};
use crate::config::{ProviderConfig, ProviderSetupError};

/// No parameters.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListAccounts {}

impl Bounded for ListAccounts {}

/// An account's transactions, newest first.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListTransactions {
    /// The account's id, from list-accounts.
    account_id: String,
    /// The first day, as YYYY-MM-DD.
    start: Option<String>,
    /// The last day, as YYYY-MM-DD.
    end: Option<String>,
    /// How many (1 to 100, default 25).
    limit: Option<u32>,
}

fn day(field: &str, value: &Option<String>) -> Result<Option<time::Date>, ActionError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    value
        .as_deref()
        .map(|v| {
            time::Date::parse(v, &format)
                .map_err(|_| invalid(field, "must be a date as YYYY-MM-DD"))
        })
        .transpose()
}

impl Bounded for ListTransactions {
    fn check(&self) -> Result<(), ActionError> {
        length("accountId", &self.account_id, 1, 100)?;
        if !self
            .account_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(invalid(
                "accountId",
                "must be an account id from list-accounts",
            ));
        }
        let (start, end) = (day("start", &self.start)?, day("end", &self.end)?);
        if let (Some(start), Some(end)) = (start, end) {
            if start > end {
                return Err(invalid("end", "must not be before start"));
            }
        }
        if let Some(limit) = self.limit {
            within("limit", limit, 1..=100)?;
        }
        Ok(())
    }
}

static CATALOG: LazyLock<Vec<ActionSpec>> = LazyLock::new(|| {
    vec![
        spec::<ListAccounts>(
            "list-accounts",
            "List the business's Mercury bank accounts with their balances (read only).",
            false,
        ),
        spec::<ListTransactions>(
            "list-transactions",
            "List a Mercury account's transactions, newest first, optionally between two dates (read only).",
            false,
        ),
    ]
});

/// Mercury's actions.
pub struct MercuryActions {
    http: reqwest::Client,
    api: String,
}

/// The actions of a configured Mercury provider.
pub fn actions(config: &ProviderConfig) -> Result<MercuryActions, ProviderSetupError> {
    Ok(MercuryActions {
        http: crate::http::client(ProviderId::Mercury)?,
        api: config.api_base_url.clone(),
    })
}

/// Mercury's error bodies: `{"errors": {"errorCode": ..., "message": ...}}` (or a bare
/// `message`).
fn read_error(body: &Value) -> (Option<String>, Option<String>) {
    let text = |pointer: &str| text_at(body, pointer);
    (
        text("/errors/errorCode"),
        text("/errors/message").or_else(|| text("/message")),
    )
}

fn pick(value: &Value, fields: &[&str]) -> Value {
    Value::Object(
        fields
            .iter()
            .filter_map(|f| value.get(*f).map(|v| ((*f).to_owned(), v.clone())))
            .collect(),
    )
}

impl MercuryActions {
    async fn get(
        &self,
        call: &ActionCall<'_>,
        url: reqwest::Url,
        query: &[(&str, String)],
    ) -> Result<Value, ActionError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(call.access_token.expose_secret())
            .query(query)
            .timeout(ACTION_TIME_LIMIT)
            .send()
            .await
            .map_err(unreachable)?;
        rest_answer(response, "Mercury", read_error).await
    }
}

#[async_trait]
impl ProviderActions for MercuryActions {
    fn provider(&self) -> ProviderId {
        ProviderId::Mercury
    }

    fn catalog(&self) -> &[ActionSpec] {
        &CATALOG
    }

    fn check(&self, action: &str, params: &Value) -> Result<(), ActionError> {
        match action {
            "list-accounts" => parse::<ListAccounts>(params).map(drop),
            _ => parse::<ListTransactions>(params).map(drop),
        }
    }

    async fn run(&self, action: &str, call: ActionCall<'_>) -> Result<Value, ActionError> {
        match action {
            "list-accounts" => {
                let body = self
                    .get(&call, url_with(&self.api, &["accounts"])?, &[])
                    .await?;
                let accounts: Vec<Value> = body
                    .get("accounts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        pick(
                            a,
                            &[
                                "id",
                                "name",
                                "nickname",
                                "status",
                                "type",
                                "kind",
                                "availableBalance",
                                "currentBalance",
                            ],
                        )
                    })
                    .collect();
                Ok(json!({ "accounts": accounts }))
            }
            _ => {
                let p: ListTransactions = parse(call.params)?;
                let limit = p.limit.unwrap_or(25);
                let mut query = vec![("limit", limit.to_string()), ("order", "desc".to_owned())];
                if let Some(start) = p.start {
                    query.push(("start", start));
                }
                if let Some(end) = p.end {
                    query.push(("end", end));
                }
                let url = url_with(&self.api, &["account", &p.account_id, "transactions"])?;
                let body = self.get(&call, url, &query).await?;
                let transactions: Vec<Value> = body
                    .get("transactions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .take(limit as usize)
                    .map(|t| {
                        pick(
                            t,
                            &[
                                "id",
                                "amount",
                                "counterpartyName",
                                "bankDescription",
                                "note",
                                "status",
                                "kind",
                                "createdAt",
                                "postedAt",
                            ],
                        )
                    })
                    .collect();
                let total = body.get("total").and_then(Value::as_u64);
                let more = total.is_some_and(|t| t > transactions.len() as u64);
                Ok(fit_list("transactions", transactions, more))
            }
        }
    }
}
