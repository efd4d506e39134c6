//! What every handler shares, built once at start-up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::web::Bytes;
use gptgate_ports::services::{Connections, Conversations, SignIn, Users};
use gptgate_ports::StorageError;

use crate::api_key::ApiKeys;

/// Checks that the database answers (for `/readyz`).
pub type Readiness =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send>> + Send + Sync>;

/// Documents rendered once at start-up and served as they are.
pub struct Documents {
    pub openapi_json: Bytes,
    pub openapi_yaml: Bytes,
    pub privacy_html: Bytes,
    /// The result pages of the connect flow.
    pub pages: tera::Tera,
}

/// The application state behind `web::Data`.
pub struct AppState {
    pub sign_in: SignIn,
    pub users: Users,
    pub conversations: Conversations,
    pub connections: Connections,
    pub api_keys: ApiKeys,
    pub readiness: Readiness,
    pub documents: Documents,
}
