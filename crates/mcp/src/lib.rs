//! gptgate's MCP face: the services behind the GPT Actions API, as MCP tools, served over
//! Streamable HTTP by rmcp (stateless: every request carries its bearer and is answered on
//! its own, so any instance can serve it). Who is calling is decided before a request reaches
//! this crate (the HTTP layer checks the bearer for the `/mcp` audience and puts an
//! [`McpUser`] in the request's extensions); tools only read it.

use std::sync::Arc;

use gptgate_domain::UserId;
use gptgate_ports::services::{Connections, Conversations, PAGE_LIMIT_MAX};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use rmcp_actix_web::transport::{on_request_extensions, StreamableHttpService};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The signed-in user of an MCP request, put in the actix request's extensions by the HTTP
/// layer once it has checked the bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McpUser(pub UserId);

/// The services the tools call.
pub struct McpServices {
    pub conversations: Conversations,
    pub connections: Arc<Connections>,
}

/// The tools.
#[derive(Clone)]
pub struct GateMcp {
    services: Arc<McpServices>,
    /// Every tool: each group's router, added together.
    tool_router: ToolRouter<GateMcp>,
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
pub struct NoArguments {}

/// `list_conversations`' arguments.
#[derive(Deserialize, JsonSchema)]
pub struct ListConversations {
    /// How many (1 to 50, default 10).
    pub limit: Option<u32>,
}

fn user_of(context: &RequestContext<RoleServer>) -> Result<UserId, ErrorData> {
    on_request_extensions(&context.extensions)
        .and_then(|e| e.get::<McpUser>())
        .map(|u| u.0)
        .ok_or_else(|| ErrorData::invalid_request("not signed in", None))
}

#[tool_router]
impl GateMcp {
    pub fn new(services: Arc<McpServices>) -> Self {
        Self {
            services,
            tool_router: Self::tool_router() + Self::accounts_router(),
        }
    }

    /// The user's saved conversations, newest first.
    #[tool(
        description = "List the user's saved conversations, newest first: title, summary and when each was saved.",
        annotations(read_only_hint = true, destructive_hint = false)
    )]
    async fn list_conversations(
        &self,
        Parameters(args): Parameters<ListConversations>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = user_of(&context)?;
        let limit = args.limit.unwrap_or(10) as usize;
        if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
            return Err(ErrorData::invalid_params(
                format!("limit must be from 1 to {PAGE_LIMIT_MAX}"),
                None,
            ));
        }
        let page = self
            .services
            .conversations
            .list(user, limit, None)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "listing conversations for MCP failed");
                ErrorData::internal_error("the conversations could not be read", None)
            })?;
        let items: Vec<_> = page
            .items
            .iter()
            .map(|c| {
                json!({
                    "id": c.id.to_string(),
                    "title": c.title,
                    "summary": c.summary,
                    "updatedAt": c.updated_at.unix_timestamp(),
                })
            })
            .collect();
        Ok(CallToolResult::success(vec![ContentBlock::text(
            json!({ "conversations": items, "more": page.next.is_some() }).to_string(),
        )]))
    }
}

#[tool_router(router = accounts_router)]
impl GateMcp {
    /// The user's connected accounts.
    #[tool(
        description = "List the user's connected accounts (Gmail, Slack, Linear, Zoho, Mercury): service, label, whether it is on, and what the service said it is. Never a token.",
        annotations(read_only_hint = true, destructive_hint = false)
    )]
    async fn list_accounts(
        &self,
        Parameters(_): Parameters<NoArguments>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = user_of(&context)?;
        let accounts = self
            .services
            .connections
            .accounts(user)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "listing accounts for MCP failed");
                ErrorData::internal_error("the accounts could not be read", None)
            })?;
        let items: Vec<_> = accounts
            .iter()
            .map(|a| {
                json!({
                    "id": a.id.to_string(),
                    "provider": a.provider.as_str(),
                    "label": a.label.as_str(),
                    "enabled": a.enabled,
                    "status": a.status.as_str(),
                    "identity": a.identity(),
                })
            })
            .collect();
        Ok(CallToolResult::success(vec![ContentBlock::text(
            json!({ "accounts": items }).to_string(),
        )]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for GateMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("gptgate: the user's saved conversations and connected accounts.")
    }
}

/// The MCP endpoint's service, built once: stateless (no session to share between instances),
/// answers in JSON, accepting only `allowed_hosts` in `Host` (DNS-rebinding defence; never
/// empty, which would turn the check off) and bodies up to `max_body_bytes` (413 beyond). Mount its `scope()` at `/mcp` behind the bearer
/// check that puts an [`McpUser`] in the request's extensions.
pub fn service(
    services: Arc<McpServices>,
    allowed_hosts: Vec<String>,
    max_body_bytes: usize,
) -> StreamableHttpService<GateMcp, NeverSessionManager> {
    assert!(
        !allowed_hosts.is_empty(),
        "an empty host list would turn off rmcp's Host check"
    );
    StreamableHttpService::builder()
        .service_factory(Arc::new(move || Ok(GateMcp::new(services.clone()))))
        .session_manager(Arc::new(NeverSessionManager::default()))
        .stateful_mode(false)
        .json_response(true)
        .allowed_hosts(allowed_hosts)
        .max_request_body_bytes(max_body_bytes)
        .on_request_fn(|req, extensions| {
            use actix_web::HttpMessage;
            if let Some(user) = req.extensions().get::<McpUser>() {
                extensions.insert(*user);
            }
        })
        .build()
}
