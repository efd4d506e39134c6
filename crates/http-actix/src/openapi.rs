//! The OpenAPI document a GPT builder pastes into the GPT editor, generated from the handlers.
//! Only GPT-facing operations are in it: every operation becomes an action the GPT can call.

use gptgate_domain::ProviderId;
use gptgate_ports::ActionSpec;
use serde_json::{json, Value};
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
        routes::actions::catalog,
    ),
    modifiers(&ApiKeyScheme, &CommonErrors),
    tags(
        (name = "sign-in", description = "Sign in with a code sent by email."),
        (name = "memory", description = "Save and recall conversations."),
        (name = "account", description = "The user's own data."),
        (name = "connections", description = "The user's connected accounts at other services."),
        (name = "actions", description = "What the GPT can do with the user's connected accounts."),
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
        const COMMON: [(&str, &str); 8] = [
            ("400", "Malformed JSON"),
            ("401", "Missing or invalid API key or session token"),
            (
                "409",
                "The user's data was deleted while the request ran (deleted_meanwhile)",
            ),
            ("413", "Request body too large"),
            ("422", "A field is missing or has the wrong type or value"),
            (
                "429",
                "Too many calls for this API key or user (rate_limited); see Retry-After",
            ),
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

/// The configured providers' actions, as the catalog lists them.
pub type ActionCatalog<'a> = [(ProviderId, &'a [ActionSpec])];

/// The document, with `public_url` as its one server and an operation of its own for each
/// configured provider action (its params' schema, and whether ChatGPT asks the user first).
pub fn document(
    public_url: &str,
    actions: &ActionCatalog<'_>,
) -> Result<utoipa::openapi::OpenApi, serde_json::Error> {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.servers = Some(vec![Server::new(public_url)]);
    if actions.is_empty() {
        return Ok(doc);
    }
    // The params' schemas are JSON Schema documents: they join the document as JSON, and the
    // whole is read back into utoipa's model (which checks it).
    let mut value = serde_json::to_value(&doc)?;
    for (provider, specs) in actions {
        for spec in specs.iter() {
            value["paths"][format!("/api/gpt/actions/{provider}/{}", spec.name)] =
                json!({ "post": action_operation(*provider, spec) });
        }
    }
    let mut doc: utoipa::openapi::OpenApi = serde_json::from_value(value)?;
    CommonErrors.modify(&mut doc);
    Ok(doc)
}

/// The operations a GPT on OAuth does not use: it never signs users in itself.
const SIGN_IN_PATHS: [&str; 3] = ["/auth/send-link", "/auth/verify-email", "/auth/logout"];

/// The same document for a GPT whose Actions sign users in with gptgate's OAuth server: an
/// OAuth2 authorization-code scheme (`/oauth/authorize`, `/oauth/token`, scope `gptgate`) in
/// place of the API key, and without the email sign-in operations. The body `token` fields
/// stay, optional.
pub fn with_oauth(
    doc: &utoipa::openapi::OpenApi,
    public_url: &str,
) -> Result<utoipa::openapi::OpenApi, serde_json::Error> {
    let base = public_url.trim_end_matches('/');
    let mut value = serde_json::to_value(doc)?;
    if let Some(paths) = value["paths"].as_object_mut() {
        for path in SIGN_IN_PATHS {
            paths.remove(path);
        }
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|i| i.values_mut())
            {
                if op.get("security").is_some() {
                    op["security"] = json!([{ "oauth": ["gptgate"] }]);
                }
            }
        }
    }
    if let Some(schemes) = value["components"]["securitySchemes"].as_object_mut() {
        schemes.remove("apiKey");
    }
    let mut doc: utoipa::openapi::OpenApi = serde_json::from_value(value)?;
    // Built with utoipa's model: read back from JSON, its untagged flows would lose tokenUrl.
    use utoipa::openapi::security::{AuthorizationCode, Flow, OAuth2, Scopes};
    let flow = AuthorizationCode::with_refresh_url(
        format!("{base}/oauth/authorize"),
        format!("{base}/oauth/token"),
        Scopes::from_iter([(
            "gptgate",
            "Use your gptgate account: your saved conversations and connected accounts",
        )]),
        format!("{base}/oauth/token"),
    );
    doc.components.get_or_insert_with(Default::default).add_security_scheme(
        "oauth",
        SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::AuthorizationCode(flow)],
            "Sign in with your gptgate account (an emailed code), once: ChatGPT keeps you signed in.",
        )),
    );
    Ok(doc)
}

/// `linear` + `create-issue` -> `linearCreateIssue`.
fn operation_id(provider: ProviderId, action: &str) -> String {
    let mut id = provider.as_str().to_owned();
    for word in action.split('-') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.extend(first.to_uppercase());
            id.push_str(chars.as_str());
        }
    }
    id
}

fn action_operation(provider: ProviderId, spec: &ActionSpec) -> Value {
    let name = provider.display_name();
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
        })
    };
    json!({
        "tags": ["actions"],
        "operationId": operation_id(provider, spec.name),
        "summary": spec.description,
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["accountId", "params"],
                "properties": {
                    "accountId": {
                        "type": "string",
                        "format": "uuid",
                        "description": format!("The id of the user's {name} account to use (from listAccounts).")
                    },
                    "token": {
                        "type": "string",
                        "description": "The session token from verifyCode, if the user signed in by email."
                    },
                    "params": spec.params
                }
            } } }
        },
        "responses": {
            "200": {
                "description": "What the action did or found.",
                "content": { "application/json": { "schema": { "type": "object" } } }
            },
            "404": error("Unknown action, or no such account of the user at this provider"),
            "409": error("The account is disabled, or must be connected again (then authUrl is a link for the user)"),
            "429": error("The provider limits the rate of calls"),
            "502": error("The provider refused or failed")
        },
        "security": [{ "apiKey": [] }],
        "x-openai-isConsequential": spec.consequential
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oauth_document_asks_for_oauth_everywhere_and_drops_email_sign_in() {
        let api_key = document("https://gpt.example.com", &[]).unwrap();
        let doc = serde_json::to_value(with_oauth(&api_key, "https://gpt.example.com/").unwrap())
            .unwrap();
        let flow = &doc["components"]["securitySchemes"]["oauth"]["flows"]["authorizationCode"];
        assert_eq!(
            flow["authorizationUrl"],
            "https://gpt.example.com/oauth/authorize"
        );
        assert_eq!(flow["tokenUrl"], "https://gpt.example.com/oauth/token");
        assert!(flow["scopes"]["gptgate"].is_string());
        assert!(doc["components"]["securitySchemes"].get("apiKey").is_none());
        for path in SIGN_IN_PATHS {
            assert!(doc["paths"].get(path).is_none(), "{path}");
        }
        let mut secured = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(security) = op.get("security") {
                    secured += 1;
                    assert_eq!(
                        security,
                        &serde_json::json!([{ "oauth": ["gptgate"] }]),
                        "{method} {path}"
                    );
                }
            }
        }
        assert!(secured > 5);
        assert!(!doc.to_string().contains("\"apiKey\""));
    }

    fn json() -> Value {
        serde_json::to_value(document("https://gpt.example.com", &[]).unwrap()).unwrap()
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

    /// The document with Linear's actions (an adapter configured for nowhere).
    fn with_linear() -> Value {
        let linear = gptgate_adapters_oauth::actions::linear::actions(
            &gptgate_adapters_oauth::ProviderConfig {
                id: ProviderId::Linear,
                client_id: "c".into(),
                client_secret: secrecy::SecretString::from("s".to_owned()),
                authorize_url: "https://linear.test/a".into(),
                token_url: "https://linear.test/t".into(),
                revoke_url: None,
                api_base_url: "https://linear.test".into(),
                userinfo_url: None,
                scopes: String::new(),
            },
        )
        .unwrap();
        use gptgate_ports::ProviderActions;
        let catalog = [(ProviderId::Linear, linear.catalog())];
        serde_json::to_value(document("https://gpt.example.com", &catalog).unwrap()).unwrap()
    }

    #[test]
    fn every_documented_path_is_a_known_route() {
        use actix_web::dev::ResourceDef;
        for doc in [json(), with_linear()] {
            for path in doc["paths"].as_object().unwrap().keys() {
                assert!(
                    crate::routes::PATHS
                        .iter()
                        .any(|(p, _)| ResourceDef::new(*p).is_match(path)),
                    "{path} is served by no route"
                );
            }
        }
    }

    #[test]
    fn each_configured_action_is_an_operation_with_its_params_and_consequence() {
        let doc = with_linear();
        let op = &doc["paths"]["/api/gpt/actions/linear/create-issue"]["post"];
        assert_eq!(op["operationId"], "linearCreateIssue");
        assert_eq!(op["x-openai-isConsequential"], true);
        let body = &op["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["required"], json!(["accountId", "params"]));
        assert_eq!(
            body["properties"]["params"]["properties"]["title"]["type"],
            "string"
        );
        assert_eq!(
            doc["paths"]["/api/gpt/actions/linear/list-teams"]["post"]["x-openai-isConsequential"],
            false
        );
        assert!(op["responses"]["409"].is_object());
        assert!(op["responses"]["503"].is_object(), "the common errors too");
        let ids: Vec<_> = operations(&doc)
            .iter()
            .map(|(_, op)| op["operationId"].as_str().unwrap().to_owned())
            .collect();
        for id in [
            "linearCreateIssue",
            "linearListTeams",
            "linearListMyIssues",
            "linearAddComment",
            "listActions",
        ] {
            assert!(ids.iter().any(|i| i == id), "{id} in {ids:?}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "operation ids are unique");
    }

    #[test]
    fn the_document_stays_within_thirty_operations() {
        // ChatGPT's editor handles at most 30 operations per GPT action (a known limit, not
        // in its documentation): today 17 operations plus Linear's 4.
        assert!(operations(&with_linear()).len() <= 30);
    }

    #[test]
    fn every_operation_fits_chatgpt_limits_and_needs_the_api_key() {
        let doc = with_linear();
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
