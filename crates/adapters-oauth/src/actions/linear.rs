//! Linear's actions, on its GraphQL API (`POST {api}/graphql`, `Authorization: Bearer`).
//! Linear answers GraphQL errors with `errors[]`, often with HTTP 200 or 400: an
//! `AUTHENTICATION_ERROR` is a refused token, `RATELIMITED` a rate limit, anything else a
//! refusal with Linear's message.

use std::sync::LazyLock;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionCall, ActionError, ActionSpec, ProviderActions};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{length, parse, provider_words, spec, unreachable, within, Bounded, ACTION_TIME_LIMIT};
use crate::config::{ProviderConfig, ProviderSetupError};

/// Create an issue in one of the user's Linear teams.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateIssue {
    /// The team's id, from list-teams.
    team_id: String,
    /// The issue's title (1 to 255 characters).
    title: String,
    /// The issue's description, in Markdown (at most 50,000 characters).
    description: Option<String>,
    /// 0 no priority, 1 urgent, 2 high, 3 medium, 4 low.
    priority: Option<u8>,
}

impl Bounded for CreateIssue {
    fn check(&self) -> Result<(), ActionError> {
        length("teamId", &self.team_id, 1, 100)?;
        length("title", &self.title, 1, 255)?;
        if let Some(description) = &self.description {
            length("description", description, 0, 50_000)?;
        }
        if let Some(priority) = self.priority {
            within("priority", priority, 0..=4)?;
        }
        Ok(())
    }
}

/// No parameters.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListTeams {}

impl Bounded for ListTeams {}

/// The issues assigned to the user, most recently updated first.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListMyIssues {
    /// How many (1 to 50, default 25).
    limit: Option<u32>,
}

impl Bounded for ListMyIssues {
    fn check(&self) -> Result<(), ActionError> {
        if let Some(limit) = self.limit {
            within("limit", limit, 1..=50)?;
        }
        Ok(())
    }
}

/// Comment on an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AddComment {
    /// The issue's id or identifier (such as ENG-123).
    issue_id: String,
    /// The comment, in Markdown (1 to 50,000 characters).
    body: String,
}

impl Bounded for AddComment {
    fn check(&self) -> Result<(), ActionError> {
        length("issueId", &self.issue_id, 1, 100)?;
        length("body", &self.body, 1, 50_000)
    }
}

static CATALOG: LazyLock<Vec<ActionSpec>> = LazyLock::new(|| {
    vec![
        spec::<CreateIssue>(
            "create-issue",
            "Create an issue in one of the user's Linear teams (teamId from list-teams). Returns its identifier and link.",
            true,
        ),
        spec::<ListTeams>(
            "list-teams",
            "List the Linear teams the user belongs to, with the id create-issue needs.",
            false,
        ),
        spec::<ListMyIssues>(
            "list-my-issues",
            "List the Linear issues assigned to the user, most recently updated first.",
            false,
        ),
        spec::<AddComment>(
            "add-comment",
            "Add a comment to a Linear issue (its id or identifier, such as ENG-123).",
            true,
        ),
    ]
});

/// Linear's actions.
pub struct LinearActions {
    http: reqwest::Client,
    graphql: String,
}

/// The actions of a configured Linear provider.
pub fn actions(config: &ProviderConfig) -> Result<LinearActions, ProviderSetupError> {
    Ok(LinearActions {
        http: crate::http::client(ProviderId::Linear)?,
        graphql: format!("{}/graphql", config.api_base_url.trim_end_matches('/')),
    })
}

impl LinearActions {
    /// Runs a GraphQL operation; `data` on success, Linear's errors mapped otherwise.
    async fn graphql(
        &self,
        call: &ActionCall<'_>,
        query: &str,
        variables: Value,
    ) -> Result<Value, ActionError> {
        let response = self
            .http
            .post(&self.graphql)
            .bearer_auth(call.access_token.expose_secret())
            .timeout(ACTION_TIME_LIMIT)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let retry_after = super::retry_after(response.headers());
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ActionError::Unauthorized);
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ActionError::RateLimited { retry_after });
        }
        if status.is_server_error() {
            return Err(ActionError::Unavailable(
                format!("Linear answered {status}").into(),
            ));
        }
        let body: Value = super::json_body(response).await?;
        if let Some(error) = body
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            let code = error
                .pointer("/extensions/code")
                .and_then(Value::as_str)
                .unwrap_or("graphql_error");
            return Err(match code {
                "AUTHENTICATION_ERROR" => ActionError::Unauthorized,
                "RATELIMITED" => ActionError::RateLimited { retry_after },
                _ => ActionError::Rejected {
                    code: code.to_owned(),
                    message: error
                        .pointer("/extensions/userPresentableMessage")
                        .or_else(|| error.get("message"))
                        .and_then(Value::as_str)
                        .map(provider_words),
                },
            });
        }
        if !status.is_success() {
            return Err(ActionError::Rejected {
                code: format!("http_{}", status.as_u16()),
                message: None,
            });
        }
        body.get("data")
            .cloned()
            .filter(Value::is_object)
            .ok_or_else(|| ActionError::Unavailable("Linear answered no data".into()))
    }
}

/// `value` at `pointer`, or Linear answered something unexpected.
fn at(value: &Value, pointer: &str) -> Result<Value, ActionError> {
    value
        .pointer(pointer)
        .cloned()
        .ok_or_else(|| ActionError::Unavailable(format!("Linear's answer lacks {pointer}").into()))
}

#[async_trait]
impl ProviderActions for LinearActions {
    fn provider(&self) -> ProviderId {
        ProviderId::Linear
    }

    fn catalog(&self) -> &[ActionSpec] {
        &CATALOG
    }

    fn check(&self, action: &str, params: &Value) -> Result<(), ActionError> {
        match action {
            "create-issue" => parse::<CreateIssue>(params).map(drop),
            "list-teams" => parse::<ListTeams>(params).map(drop),
            "list-my-issues" => parse::<ListMyIssues>(params).map(drop),
            _ => parse::<AddComment>(params).map(drop),
        }
    }

    async fn run(&self, action: &str, call: ActionCall<'_>) -> Result<Value, ActionError> {
        match action {
            "create-issue" => {
                let p: CreateIssue = parse(call.params)?;
                let mut input = json!({ "teamId": p.team_id, "title": p.title });
                if let Some(description) = p.description {
                    input["description"] = json!(description);
                }
                if let Some(priority) = p.priority {
                    input["priority"] = json!(priority);
                }
                let data = self
                    .graphql(
                        &call,
                        "mutation CreateIssue($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier title url } } }",
                        json!({ "input": input }),
                    )
                    .await?;
                if data.pointer("/issueCreate/success") != Some(&json!(true)) {
                    return Err(ActionError::Rejected {
                        code: "not_created".into(),
                        message: Some("Linear did not create the issue.".into()),
                    });
                }
                at(&data, "/issueCreate/issue")
            }
            "list-teams" => {
                let data = self
                    .graphql(
                        &call,
                        "query Teams { teams(first: 50) { nodes { id key name } pageInfo { hasNextPage } } }",
                        json!({}),
                    )
                    .await?;
                Ok(json!({
                    "teams": at(&data, "/teams/nodes")?,
                    "more": at(&data, "/teams/pageInfo/hasNextPage")?,
                }))
            }
            "list-my-issues" => {
                let p: ListMyIssues = parse(call.params)?;
                let data = self
                    .graphql(
                        &call,
                        "query MyIssues($first: Int!) { viewer { assignedIssues(first: $first, orderBy: updatedAt) { nodes { id identifier title url priority updatedAt state { name } team { key } } pageInfo { hasNextPage } } } }",
                        json!({ "first": p.limit.unwrap_or(25) }),
                    )
                    .await?;
                Ok(json!({
                    "issues": at(&data, "/viewer/assignedIssues/nodes")?,
                    "more": at(&data, "/viewer/assignedIssues/pageInfo/hasNextPage")?,
                }))
            }
            _ => {
                let p: AddComment = parse(call.params)?;
                let data = self
                    .graphql(
                        &call,
                        "mutation AddComment($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id url } } }",
                        json!({ "input": { "issueId": p.issue_id, "body": p.body } }),
                    )
                    .await?;
                if data.pointer("/commentCreate/success") != Some(&json!(true)) {
                    return Err(ActionError::Rejected {
                        code: "not_created".into(),
                        message: Some("Linear did not add the comment.".into()),
                    });
                }
                at(&data, "/commentCreate/comment")
            }
        }
    }
}
