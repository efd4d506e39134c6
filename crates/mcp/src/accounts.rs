//! Connected accounts as tools: `list_accounts`, `connect_account` (the link the user opens to
//! connect one) and `manage_accounts` (the link to their integrations page).

use gptgate_domain::{AccountLabel, ProviderId};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::answer::{answer, Refusal};
use crate::{user_of, GateMcp};

/// No arguments.
#[derive(Deserialize, JsonSchema)]
pub struct NoArguments {}

/// `connect_account`'s arguments: those of the HTTP API's `createAuthLink`.
#[derive(Deserialize, JsonSchema)]
pub struct ConnectAccount {
    /// `gmail`, `slack`, `linear`, `zoho` or `mercury`.
    #[schemars(regex(pattern = "^(gmail|google|slack|linear|zoho|mercury)$"))]
    pub provider: String,
    /// The user's name for this account, e.g. `work` (1-64 letters, digits, `-`, `_`, `.`).
    #[schemars(regex(pattern = "^[A-Za-z0-9._-]{1,64}$"), length(min = 1, max = 64))]
    pub label: String,
}

#[tool_router(router = accounts_router, vis = "pub(crate)")]
impl GateMcp {
    /// The user's connected accounts.
    #[tool(
        description = "List the user's connected accounts (Gmail, Slack, Linear, Zoho, Mercury): id, service, label, whether it is on, its status and what the service said it is. Never a token.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn list_accounts(
        &self,
        Parameters(_): Parameters<NoArguments>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = user_of(&context)?;
        let accounts = self.services.connections.accounts(user).await;
        Ok(answer(accounts, |accounts| {
            json!({
                "accounts": accounts.iter().map(|a| json!({
                    "id": a.id.to_string(),
                    "provider": a.provider.as_str(),
                    "label": a.label.as_str(),
                    "enabled": a.enabled,
                    "status": a.status.as_str(),
                    "identity": a.identity(),
                })).collect::<Vec<_>>(),
            })
        }))
    }

    /// A link to connect an account.
    #[tool(
        description = "Get a link for the user to connect an account (Gmail, Slack, Linear, Zoho or Mercury). Show authUrl to the user: it works once, for 10 minutes; they sign in at the service and come back. Connecting the same service and label again replaces that connection.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn connect_account(
        &self,
        Parameters(args): Parameters<ConnectAccount>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = user_of(&context)?;
        let provider = match ProviderId::parse(&args.provider) {
            Ok(provider) => provider,
            Err(e) => return Ok(Refusal::new("unknown_provider", format!("{e}.")).into()),
        };
        let label = match AccountLabel::parse(&args.label) {
            Ok(label) => label,
            Err(e) => return Ok(Refusal::new("invalid_label", format!("{e}.")).into()),
        };
        let link = self
            .services
            .connections
            .create_auth_link(user, provider, label)
            .await;
        Ok(answer(link, |auth_url| {
            json!({
                "authUrl": auth_url,
                "message": format!(
                    "Show the user this link to connect {}: it works once, for 10 minutes.",
                    provider.display_name()
                ),
            })
        }))
    }

    /// A link to the user's integrations page.
    #[tool(
        description = "Get a link to the user's integrations page, valid 1 hour: there they connect, turn off and remove accounts, and take access back from apps. Show managementUrl to the user.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn manage_accounts(
        &self,
        Parameters(_): Parameters<NoArguments>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = user_of(&context)?;
        let link = self.services.connections.create_management_link(user).await;
        Ok(answer(link, |url| {
            json!({
                "managementUrl": url,
                "message": "Show the user this link to their integrations page: it works for 1 hour.",
            })
        }))
    }
}
