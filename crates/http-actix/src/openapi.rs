//! The OpenAPI document a GPT builder pastes into the GPT editor, generated from the handlers.
//! Only GPT-facing operations are in it: every operation becomes an action the GPT can call.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gptgate",
        description = "Sign-in by emailed code and conversation memory for a Custom GPT.",
    ),
    paths(
        routes::auth::send_link,
        routes::auth::verify_email,
        routes::auth::logout,
        routes::conversations::add,
        routes::conversations::list,
        routes::conversations::delete,
        routes::conversations::delete_with_token,
        routes::me::delete_me,
        routes::me::export_me,
        routes::connections::create_auth_link,
        routes::connections::create_management_link,
        routes::connections::list_accounts,
        routes::connections::list_accounts_with_token,
        routes::connections::toggle_account,
        routes::connections::delete_account,
        routes::connections::delete_account_with_token,
    ),
    modifiers(&ApiKeyScheme, &CommonErrors),
    tags(
        (name = "sign-in", description = "Sign in with a code sent by email."),
        (name = "memory", description = "Save and recall conversations."),
        (name = "account", description = "The user's own data."),
        (name = "connections", description = "The user's connected accounts at other services."),
    )
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
    }
}

/// The errors every operation can answer, added where an operation does not describe them
/// itself, so the document lists every status the server really sends.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
        const COMMON: [(&str, &str); 6] = [
            ("400", "Malformed JSON"),
            ("401", "Missing or invalid API key or session token"),
            ("413", "Request body too large"),
            ("422", "A field is missing or has the wrong type or value"),
            ("500", "Server error"),
            (
                "503",
                "A dependency is unavailable, or the request took too long",
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten()
            {
                for (status, description) in COMMON {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(description)
                                    .content(
                                        "application/json",
                                        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

/// The document, with `public_url` as its one server.
pub fn document(public_url: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.servers = Some(vec![Server::new(public_url)]);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json() -> Value {
        serde_json::to_value(document("https://gpt.example.com")).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ops.push((format!("{method} {path}"), op));
            }
        }
        ops
    }

    #[test]
    fn the_document_keeps_the_seed_operation_ids_and_paths() {
        let doc = json();
        assert_eq!(doc["servers"][0]["url"], "https://gpt.example.com");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let ids: Vec<String> = operations(&doc)
            .iter()
            .map(|(name, op)| format!("{name} {}", op["operationId"].as_str().unwrap()))
            .collect();
        for expected in [
            "post /auth/send-link sendVerificationCode",
            "post /auth/verify-email verifyCode",
            "post /conversations addConversation",
            "post /conversations/list listConversations",
        ] {
            assert!(
                ids.iter().any(|i| i == expected),
                "{expected} missing from {ids:?}"
            );
        }
    }

    #[test]
    fn every_documented_path_is_a_known_route() {
        for path in json()["paths"].as_object().unwrap().keys() {
            assert!(
                crate::routes::PATHS.iter().any(|(p, _)| p == path),
                "{path} missing from routes::PATHS"
            );
        }
    }

    #[test]
    fn every_operation_fits_chatgpt_limits_and_needs_the_api_key() {
        let doc = json();
        for (name, op) in operations(&doc) {
            for field in ["summary", "description"] {
                if let Some(text) = op[field].as_str() {
                    assert!(
                        text.chars().count() <= 300,
                        "{name} {field} is over 300 characters"
                    );
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                let len = param["description"]
                    .as_str()
                    .map_or(0, |d| d.chars().count());
                assert!(
                    len <= 700,
                    "{name} parameter description over 700 characters"
                );
            }
            assert!(op["summary"].is_string(), "{name} has a summary");
            assert_eq!(op["security"][0]["apiKey"], serde_json::json!([]), "{name}");
            assert!(
                op["x-openai-isConsequential"].is_boolean(),
                "{name} says if it is consequential"
            );
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["apiKey"]["name"],
            "x-api-key"
        );
    }
}
