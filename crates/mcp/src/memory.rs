//! Conversation memory as tools: `save_conversation`, `list_conversations`,
//! `delete_conversation`. The arguments have the fields and names of the HTTP API's
//! (`addConversation`, `listConversations`) and pass through the same domain rules.

use gptgate_domain::{
    Conversation, ConversationCursor, ConversationDraft, ConversationId, ConversationInput,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use crate::answer::{answer, Refusal};
use crate::{user_of, GateMcp};

/// The default page size of a listing.
pub const DEFAULT_PAGE: u32 = 10;

/// One message of the chat.
#[derive(Deserialize, JsonSchema)]
pub struct Message {
    /// `user`, `assistant` or `system`.
    #[schemars(regex(pattern = "^(user|assistant|system)$"))]
    pub role: String,
    pub content: String,
}

/// How the user did in one exercise.
#[derive(Deserialize, JsonSchema)]
pub struct Exercise {
    pub name: String,
    /// A whole number from 0 to 100.
    #[schemars(range(min = 0, max = 100))]
    pub score: i64,
    pub notes: Option<String>,
}

/// `save_conversation`'s arguments: those of the HTTP API's `addConversation`.
#[derive(Deserialize, JsonSchema)]
pub struct SaveConversation {
    /// A short title (at most 200 characters).
    #[schemars(length(max = 200))]
    pub title: Option<String>,
    /// A summary of the conversation (required, at most 2,000 characters).
    #[schemars(length(min = 1, max = 2000))]
    pub summary: String,
    /// Both sides of the chat, in order.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// The transcript as plain lines, if there are no messages.
    #[serde(default)]
    pub raw_text: Vec<String>,
    /// How the user did in exercises.
    #[serde(default)]
    pub exercises: Vec<Exercise>,
}

/// `list_conversations`' arguments.
#[derive(Deserialize, JsonSchema)]
pub struct ListConversations {
    /// How many (1 to 50, default 10).
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<u32>,
    /// `nextCursor` from the previous page, for older conversations.
    pub cursor: Option<String>,
}

/// `delete_conversation`'s arguments.
#[derive(Deserialize, JsonSchema)]
pub struct DeleteConversation {
    /// The conversation's id (from list_conversations).
    pub id: String,
}

fn rfc3339(at: time::OffsetDateTime) -> Value {
    at.format(&Rfc3339)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// A conversation as a listing shows it: what it was about, not every message.
fn listed(c: &Conversation) -> Value {
    json!({
        "id": c.id.to_string(),
        "title": c.title,
        "summary": c.summary,
        "exercises": c.exercises.iter().map(|e| json!({
            "name": e.name, "score": e.score, "notes": e.notes,
        })).collect::<Vec<_>>(),
        "messageCount": c.messages.len(),
        "createdAt": rfc3339(c.created_at),
        "updatedAt": rfc3339(c.updated_at),
    })
}

#[tool_router(router = memory_router, vis = "pub(crate)")]
impl GateMcp {
    /// Saves a conversation.
    #[tool(
        description = "Save this conversation to the user's memory: both sides of the chat, a summary (required) and exercise results. It is then listed by list_conversations, here and in the user's GPT.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn save_conversation(
        &self,
        Parameters(args): Parameters<SaveConversation>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = user_of(&context)?;
        let draft = match ConversationDraft::parse(ConversationInput {
            title: args.title,
            summary: Some(args.summary),
            messages: args
                .messages
                .into_iter()
                .map(|m| (m.role, m.content))
                .collect(),
            raw_text: args.raw_text,
            exercises: args
                .exercises
                .into_iter()
                .map(|e| (e.name, e.score, e.notes))
                .collect(),
        }) {
            Ok(draft) => draft,
            Err(e) => return Ok(Refusal::new("invalid_conversation", format!("{e}.")).into()),
        };
        let saved = self.services.conversations.save(user, draft, None).await;
        Ok(answer(saved, |saved| {
            json!({
                "id": saved.id.to_string(),
                "title": saved.title,
                "createdAt": rfc3339(saved.created_at),
                "message": "Conversation saved.",
            })
        }))
    }

    /// The user's saved conversations, newest first.
    #[tool(
        description = "List the user's saved conversations, newest first: id, title, summary, exercise results and when each was saved. Pass nextCursor as cursor for older ones.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn list_conversations(
        &self,
        Parameters(args): Parameters<ListConversations>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = user_of(&context)?;
        let limit = args.limit.unwrap_or(DEFAULT_PAGE) as usize;
        let after = match args
            .cursor
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(ConversationCursor::parse)
            .transpose()
        {
            Ok(after) => after,
            Err(e) => return Ok(Refusal::new("invalid_cursor", format!("{e}.")).into()),
        };
        let page = self.services.conversations.list(user, limit, after).await;
        Ok(answer(page, |page| {
            json!({
                "conversations": page.items.iter().map(listed).collect::<Vec<_>>(),
                "nextCursor": page.next.map(|c| c.encode()),
            })
        }))
    }

    /// Deletes one of the user's conversations.
    #[tool(
        description = "Delete one of the user's saved conversations for good (id from list_conversations). Ask the user first.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn delete_conversation(
        &self,
        Parameters(args): Parameters<DeleteConversation>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = user_of(&context)?;
        // An id that does not parse names no conversation: the same answer as any unknown id.
        let Ok(id) = args.id.trim().parse::<ConversationId>() else {
            return Ok(Refusal::from(gptgate_ports::services::ConversationsError::NotFound).into());
        };
        let deleted = self.services.conversations.delete(user, id).await;
        Ok(answer(
            deleted,
            |()| json!({ "message": "Conversation deleted." }),
        ))
    }
}
