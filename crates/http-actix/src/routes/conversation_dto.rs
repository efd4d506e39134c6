//! The JSON shape of a saved conversation, shared by the listing, its response-limit fitting
//! and the data export.

use gptgate_domain::Conversation;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, Serialize, ToSchema, Clone)]
pub struct MessageDto {
    /// `user`, `assistant` or `system`.
    #[schema(example = "user", pattern = "^(user|assistant|system)$")]
    pub role: String,
    pub content: String,
}

#[derive(Deserialize, Serialize, ToSchema, Clone)]
pub struct ExerciseDto {
    pub name: String,
    /// A whole number from 0 to 100.
    #[schema(minimum = 0, maximum = 100)]
    pub score: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Serialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDto {
    pub id: Uuid,
    pub title: Option<String>,
    pub summary: String,
    pub messages: Vec<MessageDto>,
    #[serde(rename = "raw_text")]
    pub raw_text: Vec<String>,
    pub exercises: Vec<ExerciseDto>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// True when long content was cut to keep the response within ChatGPT's size limit.
    pub truncated: bool,
}

impl From<&Conversation> for ConversationDto {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id.as_uuid(),
            title: c.title.clone(),
            summary: c.summary.clone(),
            messages: c
                .messages
                .iter()
                .map(|m| MessageDto {
                    role: m.role.as_str().to_owned(),
                    content: m.content.clone(),
                })
                .collect(),
            raw_text: c.raw_text.clone(),
            exercises: c
                .exercises
                .iter()
                .map(|e| ExerciseDto {
                    name: e.name.clone(),
                    score: i64::from(e.score),
                    notes: e.notes.clone(),
                })
                .collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            truncated: false,
        }
    }
}
