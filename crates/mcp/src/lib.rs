//! gptgate's MCP face: the services behind the GPT Actions API, as MCP tools, served over
//! Streamable HTTP by rmcp (stateless: every request carries its bearer and is answered on
//! its own, so any instance can serve it). Who is calling is decided before a request reaches
//! this crate (the HTTP layer checks the bearer for the `/mcp` audience and puts an
//! [`McpUser`] in the request's extensions); tools only read it.
//!
//! Tools: `save_conversation`, `list_conversations`, `delete_conversation` ([`memory`]),
//! `list_accounts`, `connect_account`, `manage_accounts` ([`accounts`]) and one tool per
//! provider action of the configured providers (`gmail_send_email`...: [`actions`]). A
//! service's refusal is a tool result with `isError: true` and `{error: {code, message}}`, the
//! codes those of the HTTP API ([`answer`]), so the model reads what to do next.

use std::sync::Arc;
use std::time::Duration;

use gptgate_domain::UserId;
use gptgate_ports::services::{Actions, Connections, Conversations};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::{tool_handler, ErrorData, RoleServer, ServerHandler};
use rmcp_actix_web::transport::{on_request_extensions, StreamableHttpService};

pub mod accounts;
pub mod actions;
pub mod answer;
pub mod memory;

/// The signed-in user of an MCP request, put in the actix request's extensions by the HTTP
/// layer once it has checked the bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McpUser(pub UserId);

/// The services the tools call.
pub struct McpServices {
    pub conversations: Conversations,
    pub connections: Arc<Connections>,
    pub actions: Actions,
}

/// How the endpoint is bounded.
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// The hosts accepted in `Host` (DNS-rebinding defence); never empty, which would turn
    /// rmcp's check off.
    pub allowed_hosts: Vec<String>,
    /// The browser origins accepted in `Origin` when a request has one (`scheme://host:port`,
    /// `:*` for any port); a request without `Origin` (not from a browser) is not affected.
    pub allowed_origins: Vec<String>,
    /// The largest request body (413 beyond).
    pub max_body_bytes: usize,
    /// The longest a provider action may take, its token refresh and one retry included; past
    /// it the action is dropped (nothing more is sent, though a call already at the provider may
    /// take effect) and the tool answers `timeout`. Keep it under the HTTP layer's limit for `/mcp`.
    pub action_time_limit: Duration,
}

/// The tools, built once per server: a request clones two `Arc`s.
#[derive(Clone)]
pub struct GateMcp {
    services: Arc<McpServices>,
    action_time_limit: Duration,
    tool_router: Arc<ToolRouter<GateMcp>>,
}

impl GateMcp {
    /// Every tool: the fixed ones, and one per action of the configured providers.
    pub fn new(services: Arc<McpServices>, action_time_limit: Duration) -> Self {
        let mut router = Self::memory_router() + Self::accounts_router();
        for route in actions::routes(&services.actions) {
            router.add_route(route);
        }
        Self {
            services,
            action_time_limit,
            tool_router: Arc::new(router),
        }
    }

    /// Every tool the server offers, as `tools/list` lists them.
    pub fn tools(&self) -> Vec<rmcp::model::Tool> {
        self.tool_router.list_all()
    }
}

/// The signed-in user, from the request's extensions (absent only if this crate was mounted
/// without the HTTP layer's bearer check: refused, never anonymous).
fn user_of(context: &RequestContext<RoleServer>) -> Result<UserId, ErrorData> {
    on_request_extensions(&context.extensions)
        .and_then(|e| e.get::<McpUser>())
        .map(|u| u.0)
        .ok_or_else(|| ErrorData::invalid_request("not signed in", None))
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for GateMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "gptgate: the user's saved conversations (save_conversation, list_conversations, \
             delete_conversation), their connected accounts (list_accounts; connect_account and \
             manage_accounts give a link to show the user) and what can be done with them: one \
             tool per provider action, taking an accountId from list_accounts. Ask the user \
             before a tool that sends or changes something.",
        )
    }
}

/// The MCP endpoint's service, built once: stateless (no session to share between instances),
/// answering in JSON. Mount its `scope_with_path("/mcp")` behind the bearer check that puts an
/// [`McpUser`] in the request's extensions.
pub fn service(
    services: Arc<McpServices>,
    settings: McpSettings,
) -> StreamableHttpService<GateMcp, NeverSessionManager> {
    assert!(
        !settings.allowed_hosts.is_empty(),
        "an empty host list would turn off rmcp's Host check"
    );
    let tools = GateMcp::new(services, settings.action_time_limit);
    StreamableHttpService::builder()
        .service_factory(Arc::new(move || Ok(tools.clone())))
        .session_manager(Arc::new(NeverSessionManager::default()))
        .stateful_mode(false)
        .json_response(true)
        .allowed_hosts(settings.allowed_hosts)
        .allowed_origins(settings.allowed_origins)
        .max_request_body_bytes(settings.max_body_bytes)
        .on_request_fn(|req, extensions| {
            use actix_web::HttpMessage;
            if let Some(user) = req.extensions().get::<McpUser>() {
                extensions.insert(*user);
            }
        })
        .build()
}
