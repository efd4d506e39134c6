//! The MCP face over HTTP: the bearer door (RFC 9728 challenge, audience, expiry,
//! revocation), every tool's listing (names, schemas, annotations matching the catalog's
//! consequential flag) and call, the same person across the GPT API and MCP, a provider
//! action against wiremock standing in for Linear, and each refusal as a tool error.

use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{error_code, graphql, PUBLIC_URL};
use crate::oauth::{param, server_with, Server};

async fn server() -> Server {
    server_with(&[]).await
}

/// A JSON-RPC call to /mcp, as an MCP client over Streamable HTTP makes it.
async fn mcp_call(s: &Server, bearer: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = s
        .app
        .client
        .post(format!("{}/mcp", s.app.address))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body);
    if let Some(bearer) = bearer {
        req = req.bearer_auth(bearer);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_mcp_endpoint_lists_and_calls_tools_for_an_mcp_token_only() {
    let s = server().await;
    // Without a token: the challenge that sends an MCP client to the metadata.
    let res = mcp_call(
        &s,
        None,
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }),
    )
    .await;
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        challenge,
        format!("Bearer resource_metadata=\"{PUBLIC_URL}/.well-known/oauth-protected-resource\"")
    );
    assert_eq!(
        error_code(res, 401).await,
        "invalid_token",
        "the one error shape"
    );
    // A saved conversation, and an MCP token for the same person.
    let api_token = s.app.sign_in("ann@example.com").await;
    s.app
        .post(
            "/conversations",
            &json!({ "token": api_token, "summary": "Ser and estar", "messages": [] }),
        )
        .await;
    s.app.clock.advance(Duration::seconds(61));
    let mcp = format!("{PUBLIC_URL}/mcp");
    // An OAuth token issued for the API (no resource asked), and one for /mcp.
    let api_code = s.code("ann@example.com").await;
    let api_oauth: Value = s.exchange(&api_code, false).await.json().await.unwrap();
    let api_oauth = api_oauth["access_token"].as_str().unwrap().to_owned();
    let res = s
        .api(Method::GET, "/api/gpt/accounts", &api_oauth, None)
        .await;
    assert_eq!(res.status(), 200, "valid for the API");
    let (_, consent) = s
        .browser
        .open(&format!(
            "/oauth/authorize?{}",
            s.authorize_query(&[("resource", &mcp)])
        ))
        .await;
    let code = param(&s.decide(&consent, "allow").await, "code");
    let tokens: Value = s.exchange(&code, false).await.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    // The API's own tokens are refused here: a session token, and an OAuth token for the API.
    for refused in [&api_token, &api_oauth] {
        let res = mcp_call(
            &s,
            Some(refused),
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }),
        )
        .await;
        assert_eq!(res.status(), 401);
    }

    let res = mcp_call(
        &s,
        Some(&token),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": { "name": "test", "version": "1" } } }),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = mcp_call(
        &s,
        Some(&token),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let listed: Value = res.json().await.unwrap();
    let tools = listed["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "connect_account",
            "delete_conversation",
            "list_accounts",
            "list_conversations",
            "manage_accounts",
            "save_conversation"
        ],
        "no provider is configured: no action tools; {listed}"
    );
    for tool in tools {
        let name = tool["name"].as_str().unwrap();
        let reads = name.starts_with("list_");
        assert_eq!(tool["annotations"]["readOnlyHint"], reads, "{name}");
        assert_eq!(
            tool["annotations"]["destructiveHint"],
            name == "delete_conversation",
            "{name}"
        );
        assert_eq!(tool["annotations"]["openWorldHint"], false, "{name}");
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        assert!(tool["description"].as_str().unwrap().len() <= 300, "{name}");
    }
    let res = mcp_call(
        &s,
        Some(&token),
        json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call",
                "params": { "name": "list_accounts", "arguments": {} } }),
    )
    .await;
    let called: Value = res.json().await.unwrap();
    let text = called["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({ "accounts": [] })
    );
    let res = mcp_call(
        &s,
        Some(&token),
        json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": { "name": "list_conversations", "arguments": { "limit": 5 } } }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let called: Value = res.json().await.unwrap();
    let text = called["result"]["content"][0]["text"].as_str().unwrap();
    let found: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        found["conversations"][0]["summary"], "Ser and estar",
        "the same person across faces"
    );
    // Bodies are bounded like the API's (BODY_LIMIT).
    let res = mcp_call(
        &s,
        Some(&token),
        json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/list",
                "params": { "padding": "x".repeat(crate::helpers::BODY_LIMIT) } }),
    )
    .await;
    assert_eq!(res.status(), 413);
}

/// Calls tool `name`; returns whether it was refused and its structured content (checked to
/// be the same JSON as its text content).
async fn call_tool(s: &Server, token: &str, name: &str, arguments: Value) -> (bool, Value) {
    let res = mcp_call(
        s,
        Some(token),
        json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": { "name": name, "arguments": arguments } }),
    )
    .await;
    assert_eq!(res.status(), 200, "{name}");
    let body: Value = res.json().await.unwrap();
    let result = &body["result"];
    assert!(result.is_object(), "{body}");
    let structured = result["structuredContent"].clone();
    let text = result["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        structured,
        "{name}: text and structured content agree"
    );
    (result["isError"] == true, structured)
}

/// The error code of a refused tool call.
async fn refused(s: &Server, token: &str, name: &str, arguments: Value) -> String {
    let (is_error, content) = call_tool(s, token, name, arguments).await;
    assert!(is_error, "{name}: {content}");
    assert!(content["error"]["message"].is_string(), "{content}");
    content["error"]["code"].as_str().unwrap().to_owned()
}

async fn tools_of(s: &Server, token: &str) -> Vec<Value> {
    let res = mcp_call(
        s,
        Some(token),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
    )
    .await;
    let listed: Value = res.json().await.unwrap();
    listed["result"]["tools"].as_array().unwrap().clone()
}

#[tokio::test]
async fn memory_tools_save_list_and_delete_the_same_conversations_the_gpt_sees() {
    let s = server().await;
    let (token, _) = s.mcp_tokens("ann@example.com").await;
    let (is_error, saved) = call_tool(
        &s,
        &token,
        "save_conversation",
        json!({
            "title": "Spanish", "summary": "Ser and estar",
            "messages": [{ "role": "user", "content": "Hola" }, { "role": "assistant", "content": "¡Hola!" }],
            "exercises": [{ "name": "Estar", "score": 80 }]
        }),
    )
    .await;
    assert!(!is_error, "{saved}");
    let id = saved["id"].as_str().unwrap().to_owned();
    // The GPT face sees it, every message with it (signed in a minute later: the
    // resend cooldown).
    s.app.clock.advance(Duration::seconds(61));
    let api = s.app.sign_in("ann@example.com").await;
    let listed: Value = s
        .app
        .post("/conversations/list", &json!({ "token": api }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["conversations"][0]["id"], id.as_str());
    assert_eq!(
        listed["conversations"][0]["messages"][1]["content"],
        "¡Hola!"
    );
    assert_eq!(listed["conversations"][0]["exercises"][0]["score"], 80);

    // One saved on the GPT face; pages of one, newest first.
    s.app.clock.advance(Duration::seconds(1));
    s.app
        .post(
            "/conversations",
            &json!({ "token": api, "summary": "Por and para" }),
        )
        .await;
    let (_, first) = call_tool(&s, &token, "list_conversations", json!({ "limit": 1 })).await;
    assert_eq!(first["conversations"][0]["summary"], "Por and para");
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, second) = call_tool(
        &s,
        &token,
        "list_conversations",
        json!({ "limit": 1, "cursor": cursor }),
    )
    .await;
    assert_eq!(second["conversations"][0]["summary"], "Ser and estar");
    assert_eq!(second["conversations"][0]["messageCount"], 2);
    assert_eq!(second["conversations"][0]["exercises"][0]["name"], "Estar");
    // The listing shows what each was about, never the messages themselves.
    assert!(second["conversations"][0].get("messages").is_none());
    assert_eq!(second["nextCursor"], Value::Null);

    // Limits at their edges; bad input is a tool error naming it.
    let (is_error, _) = call_tool(&s, &token, "list_conversations", json!({ "limit": 50 })).await;
    assert!(!is_error);
    for limit in [0, 51] {
        assert_eq!(
            refused(&s, &token, "list_conversations", json!({ "limit": limit })).await,
            "invalid_limit"
        );
    }
    assert_eq!(
        refused(
            &s,
            &token,
            "list_conversations",
            json!({ "cursor": "nope" })
        )
        .await,
        "invalid_cursor"
    );
    let (is_error, _) = call_tool(
        &s,
        &token,
        "save_conversation",
        json!({ "summary": "s".repeat(2000) }),
    )
    .await;
    assert!(!is_error, "the longest summary is taken");
    for summary in ["s".repeat(2001), "   ".to_owned()] {
        assert_eq!(
            refused(
                &s,
                &token,
                "save_conversation",
                json!({ "summary": summary })
            )
            .await,
            "invalid_conversation"
        );
    }
    assert_eq!(
        refused(
            &s,
            &token,
            "save_conversation",
            json!({ "summary": "s", "messages": [{ "role": "robot", "content": "x" }] })
        )
        .await,
        "invalid_conversation"
    );
    // Arguments of the wrong shape: rmcp's own tool error, never a saved half.
    let res = mcp_call(
        &s,
        Some(&token),
        json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": { "name": "save_conversation", "arguments": { "title": "no summary" } } }),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["isError"], true, "{body}");

    // Deleting: another person's conversation and a malformed id are not found.
    let (bob, _) = s.mcp_tokens_in_new_browser("bob@example.com").await;
    for (who, target) in [(&bob, id.as_str()), (&token, "not-an-id")] {
        assert_eq!(
            refused(&s, who, "delete_conversation", json!({ "id": target })).await,
            "conversation_not_found"
        );
    }
    let (is_error, _) = call_tool(&s, &token, "delete_conversation", json!({ "id": id })).await;
    assert!(!is_error);
    let listed: Value = s
        .app
        .post("/conversations/list", &json!({ "token": api, "limit": 50 }))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !listed.to_string().contains(&id),
        "gone on the GPT face too"
    );
}

#[tokio::test]
async fn tools_take_the_fields_of_the_api_operations_they_stand_for() {
    let s = server().await;
    let (token, _) = s.mcp_tokens("ann@example.com").await;
    let tools = tools_of(&s, &token).await;
    let doc: Value = s.app.get_json("/openapi.json").await;
    let keys = |schema: &Value| {
        let mut keys: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "token")
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    for (tool, request) in [
        ("save_conversation", "AddConversationRequest"),
        ("list_conversations", "ListRequest"),
        ("connect_account", "CreateAuthLinkRequest"),
    ] {
        let input = &tools.iter().find(|t| t["name"] == tool).unwrap()["inputSchema"];
        assert_eq!(
            keys(input),
            keys(&doc["components"]["schemas"][request]),
            "{tool} ~ {request}"
        );
    }
    let save = &tools
        .iter()
        .find(|t| t["name"] == "save_conversation")
        .unwrap()["inputSchema"];
    assert_eq!(save["required"], json!(["summary"]));
}

#[tokio::test]
async fn account_tools_give_links_that_work_and_refuse_bad_names() {
    let linear = wiremock::MockServer::start().await;
    let s = server_with(&crate::helpers::linear_settings(&linear)).await;
    let (token, _) = s.mcp_tokens("ann@example.com").await;
    let (is_error, link) = call_tool(
        &s,
        &token,
        "connect_account",
        json!({ "provider": "linear", "label": "work" }),
    )
    .await;
    assert!(!is_error, "{link}");
    let auth_url = link["authUrl"].as_str().unwrap();
    assert!(
        auth_url.starts_with(&format!("{PUBLIC_URL}/auth/start?token=")),
        "{auth_url}"
    );
    let (status, page) = s.browser.open(auth_url).await;
    assert_eq!(status, 200);
    assert!(page.contains("Linear"), "{page}");

    for (provider, label, code) in [
        ("linear", "not ok!", "invalid_label"),
        ("linear", "", "invalid_label"),
        ("myspace", "work", "unknown_provider"),
        ("slack", "work", "provider_not_configured"),
    ] {
        assert_eq!(
            refused(
                &s,
                &token,
                "connect_account",
                json!({ "provider": provider, "label": label })
            )
            .await,
            code,
            "{provider} {label}"
        );
    }
    let (_, longest) = call_tool(
        &s,
        &token,
        "connect_account",
        json!({ "provider": "linear", "label": "l".repeat(64) }),
    )
    .await;
    assert!(longest["authUrl"].is_string(), "a 64-character label");
    assert_eq!(
        refused(
            &s,
            &token,
            "connect_account",
            json!({ "provider": "linear", "label": "l".repeat(65) })
        )
        .await,
        "invalid_label"
    );

    let (is_error, manage) = call_tool(&s, &token, "manage_accounts", json!({})).await;
    assert!(!is_error);
    let url = manage["managementUrl"].as_str().unwrap();
    let (status, page) = s.browser.open(url).await;
    assert_eq!(status, 200);
    assert!(page.contains("a***@example.com"), "whose page: {page}");
}

#[tokio::test]
async fn provider_actions_are_tools_that_match_the_catalog_and_act_with_the_users_account() {
    let linear = wiremock::MockServer::start().await;
    let s = server_with(&crate::helpers::linear_settings(&linear)).await;
    let api = s.app.sign_in("ann.lee@example.com").await;
    let account = crate::helpers::connect_linear(&s.app, &s.browser, &linear, &api).await;
    s.app.clock.advance(Duration::seconds(61));
    let (token, _) = s.mcp_tokens("ann.lee@example.com").await;

    // Every action of the catalog is a tool: its description, its params schema, and
    // annotations that say what x-openai-isConsequential says.
    let catalog: Value = s
        .app
        .request(Method::GET, "/api/gpt/actions")
        .header("x-api-key", crate::helpers::API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tools = tools_of(&s, &token).await;
    let actions = catalog["providers"][0]["actions"].as_array().unwrap();
    assert_eq!(tools.len(), 6 + actions.len());
    for action in actions {
        let name = format!(
            "linear_{}",
            action["name"].as_str().unwrap().replace('-', "_")
        );
        let tool = tools.iter().find(|t| t["name"] == name.as_str()).unwrap();
        assert_eq!(tool["description"], action["description"], "{name}");
        assert_eq!(
            tool["inputSchema"]["properties"]["params"], action["params"],
            "{name}"
        );
        let consequential = action["consequential"].as_bool().unwrap();
        assert_eq!(
            tool["annotations"]["readOnlyHint"], !consequential,
            "{name}"
        );
        assert_eq!(
            tool["annotations"]["destructiveHint"], consequential,
            "{name}"
        );
        assert_eq!(tool["annotations"]["openWorldHint"], true, "{name}");
    }
    assert!(tools
        .iter()
        .any(|t| t["name"] == "linear_create_issue" && t["annotations"]["readOnlyHint"] == false));

    graphql(
        &linear,
        "Teams",
        "lin_access_1",
        200,
        json!({ "data": { "teams": {
            "nodes": [{ "id": "t1", "key": "ENG", "name": "Engineering" }],
            "pageInfo": { "hasNextPage": false }
        } } }),
    )
    .await;
    let (is_error, teams) = call_tool(
        &s,
        &token,
        "linear_list_teams",
        json!({ "accountId": account, "params": {} }),
    )
    .await;
    assert!(!is_error, "{teams}");
    assert_eq!(teams["teams"][0]["key"], "ENG");
    let (_, accounts) = call_tool(&s, &token, "list_accounts", json!({})).await;
    assert_eq!(accounts["accounts"][0]["id"], account.as_str());
    assert_eq!(accounts["accounts"][0]["provider"], "linear");
    assert!(!accounts.to_string().contains("lin_"), "never a token");

    // Refusals: another person's account (and no account) is not found; bad params name the
    // field before Linear is called.
    let (bob, _) = s.mcp_tokens_in_new_browser("bob@example.com").await;
    assert_eq!(
        refused(
            &s,
            &bob,
            "linear_list_teams",
            json!({ "accountId": account, "params": {} })
        )
        .await,
        "account_not_found"
    );
    assert_eq!(
        refused(&s, &token, "linear_list_teams", json!({ "params": {} })).await,
        "account_not_found"
    );
    let code = refused(
        &s,
        &token,
        "linear_create_issue",
        json!({ "accountId": account, "params": { "teamId": "t1" } }),
    )
    .await;
    assert_eq!(code, "invalid_params");
    // Linear refusing the grant for good: a link to connect again.
    let l = &linear;
    l.reset().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/graphql"))
        .and(wiremock::matchers::body_string_contains("Teams"))
        .respond_with(wiremock::ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{ "message": "Authentication required", "extensions": { "code": "AUTHENTICATION_ERROR" } }]
        })))
        .mount(l)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/oauth/token"))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=refresh_token",
        ))
        .respond_with(wiremock::ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "refresh token revoked"
        })))
        .mount(l)
        .await;
    let (is_error, gone) = call_tool(
        &s,
        &token,
        "linear_list_teams",
        json!({ "accountId": account, "params": {} }),
    )
    .await;
    assert!(is_error);
    assert_eq!(gone["error"]["code"], "reauth_required");
    assert!(gone["error"]["authUrl"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{PUBLIC_URL}/auth/start?token=")));
}

#[tokio::test]
async fn expired_and_revoked_mcp_tokens_are_refused_with_the_challenge() {
    let s = server().await;
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let (token, refresh) = s.mcp_tokens("ann@example.com").await;
    // OAuth access tokens live 24 hours: the last second is accepted, the next refused.
    s.app
        .clock
        .advance(Duration::hours(24) - Duration::seconds(1));
    assert_eq!(mcp_call(&s, Some(&token), list.clone()).await.status(), 200);
    s.app.clock.advance(Duration::seconds(1));
    let res = mcp_call(&s, Some(&token), list.clone()).await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("resource_metadata="));

    // A refreshed token works until its grant is revoked (RFC 7009).
    let res = s
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            false,
        )
        .await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let fresh = tokens["access_token"].as_str().unwrap();
    assert_eq!(mcp_call(&s, Some(fresh), list.clone()).await.status(), 200);
    let res = s
        .app
        .client
        .post(format!("{}/oauth/revoke", s.app.address))
        .form(&[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &s.client.id.to_string()),
            ("client_secret", crate::oauth::SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = mcp_call(&s, Some(fresh), list.clone()).await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
    // A malformed bearer is the same refusal, never a 500.
    for bearer in ["", "not.a.jwt", &"x".repeat(5000)] {
        assert_eq!(
            mcp_call(&s, Some(bearer), list.clone()).await.status(),
            401,
            "{bearer:.10}"
        );
    }
}

#[tokio::test]
async fn a_store_that_is_down_is_a_503_not_a_sign_in_challenge() {
    let s = server().await;
    let (token, _) = s.mcp_tokens("ann@example.com").await;
    s.app.store.set_unavailable(true);
    let res = mcp_call(
        &s,
        Some(&token),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }),
    )
    .await;
    assert!(res.headers().get("www-authenticate").is_none());
    assert_eq!(error_code(res, 503).await, "database_unavailable");
    s.app.store.set_unavailable(false);
    let res = mcp_call(
        &s,
        Some(&token),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn rmcps_own_client_discovers_registers_signs_in_and_calls_tools() {
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::auth::{
        AuthClient, AuthorizationManager, AuthorizationMetadataSource, AuthorizationRequest,
        AuthorizationSession,
    };
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::ServiceExt;

    let linear = wiremock::MockServer::start().await;
    let s = crate::oauth::server_with_options(
        &crate::helpers::linear_settings(&linear),
        crate::helpers::ServeOptions {
            public_url_is_own_address: true,
            ..Default::default()
        },
    )
    .await;
    let mcp_url = format!("{}/mcp", s.app.address);
    // Ann uses a GPT first: signs in by email there and connects Linear.
    let api = s.app.sign_in("ann.lee@example.com").await;
    let account = crate::helpers::connect_linear(&s.app, &s.browser, &linear, &api).await;
    s.app
        .post(
            "/conversations",
            &json!({ "token": api, "summary": "Planned the launch" }),
        )
        .await;
    s.app.clock.advance(Duration::seconds(61));

    // The client's first request is refused; the challenge leads it to the metadata.
    let res = s
        .app
        .client
        .post(&mcp_url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 0, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut manager = AuthorizationManager::new(mcp_url.as_str()).await.unwrap();
    let resolution = manager
        .resolve_metadata_from_challenge(Some(&challenge))
        .await
        .unwrap();
    assert_eq!(
        resolution.source,
        AuthorizationMetadataSource::ProtectedResourceMetadata
    );
    manager.set_metadata(resolution.metadata);
    // Dynamic registration (RFC 7591), then the authorization URL with PKCE and the resource.
    let callback = "http://127.0.0.1:33418/callback";
    let session = AuthorizationSession::new(
        manager,
        AuthorizationRequest::new(callback).with_client_name("rmcp test client"),
    )
    .await
    .map_err(|(_, e)| e)
    .unwrap();
    let auth_url = session.get_authorization_url().to_owned();
    let parsed = reqwest::Url::parse(&auth_url).unwrap();
    assert_eq!(param(&parsed, "code_challenge_method"), "S256");
    assert_eq!(param(&parsed, "resource"), mcp_url);
    // The person signs in and allows, in their browser.
    let back = s
        .authorize_in_browser(&auth_url, "ann.lee@example.com")
        .await;
    assert!(back.as_str().starts_with(callback), "{back}");
    session.handle_callback_url(back.as_str()).await.unwrap();

    let client = AuthClient::new(reqwest_rmcp::Client::default(), session.auth_manager);
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str()),
    );
    let service = ().serve(transport).await.unwrap();
    let tools = service.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"save_conversation"), "{names:?}");
    assert!(names.contains(&"linear_create_issue"), "{names:?}");

    // The same person as on the GPT: her conversation and her Linear account.
    let listed = service
        .call_tool(CallToolRequestParams::new("list_conversations"))
        .await
        .unwrap();
    assert_eq!(
        listed.structured_content.unwrap()["conversations"][0]["summary"],
        "Planned the launch"
    );
    graphql(
        &linear,
        "issueCreate",
        "lin_access_1",
        200,
        json!({ "data": { "issueCreate": { "success": true, "issue": {
            "id": "i1", "identifier": "ENG-7", "title": "Fix login",
            "url": "https://linear.app/acme/issue/ENG-7/fix-login"
        } } } }),
    )
    .await;
    let created = service
        .call_tool(
            CallToolRequestParams::new("linear_create_issue").with_arguments(
                json!({ "accountId": account, "params": { "teamId": "t1", "title": "Fix login" } })
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_ne!(created.is_error, Some(true), "{created:?}");
    assert_eq!(created.structured_content.unwrap()["identifier"], "ENG-7");
    service.cancel().await.unwrap();
}

/// The official MCP inspector's CLI (`scripts/install-mcp-inspector.sh` installs it under
/// target/tools; `MCP_INSPECTOR` names another). Without it the test says so and passes,
/// except under CI=true, where it must be there.
fn mcp_inspector() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("MCP_INSPECTOR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/tools/mcp-inspector")
        });
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and the MCP inspector is missing: run scripts/install-mcp-inspector.sh"
    );
    eprintln!("the MCP inspector is not installed (scripts/install-mcp-inspector.sh): skipped");
    None
}

/// Runs the inspector's CLI against the server's /mcp with `token`; its JSON answer.
async fn inspect(inspector: &std::path::Path, s: &Server, token: &str, args: &[&str]) -> Value {
    let out = tokio::process::Command::new(inspector)
        .args([
            "--cli",
            &format!("{}/mcp", s.app.address),
            "--transport",
            "http",
        ])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn the_official_mcp_inspector_lists_and_calls_the_tools() {
    let Some(inspector) = mcp_inspector() else {
        return;
    };
    let s = server().await;
    let (token, _) = s.mcp_tokens("ann@example.com").await;
    let listed = inspect(&inspector, &s, &token, &["--method", "tools/list"]).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"save_conversation"), "{listed}");
    let saved = inspect(
        &inspector,
        &s,
        &token,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "save_conversation",
            "--tool-arg",
            "summary=Checked with the inspector",
        ],
    )
    .await;
    assert_ne!(saved["isError"], true, "{saved}");
    let found = inspect(
        &inspector,
        &s,
        &token,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "list_conversations",
            "--tool-arg",
            "limit=5",
        ],
    )
    .await;
    assert_eq!(
        found["structuredContent"]["conversations"][0]["summary"], "Checked with the inspector",
        "{found}"
    );
    // Without the token the inspector is refused.
    let out = tokio::process::Command::new(&inspector)
        .args([
            "--cli",
            &format!("{}/mcp", s.app.address),
            "--transport",
            "http",
        ])
        .args(["--method", "tools/list"])
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_browser_on_another_origin_is_refused_and_programs_without_one_are_not() {
    let s = server().await;
    let (token, _) = s.mcp_tokens("ann@example.com").await;
    let list = |origin: Option<&str>| {
        let mut req = s
            .app
            .client
            .post(format!("{}/mcp", s.app.address))
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(&token)
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }));
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    for (origin, status) in [
        (None, 200),
        (Some(PUBLIC_URL), 200),
        (Some("https://evil.example"), 403),
        (Some("null"), 403),
    ] {
        let res = list(origin).await.unwrap();
        if status == 403 {
            // rmcp's refusal, in the project's one error shape.
            assert_eq!(error_code(res, 403).await, "forbidden", "{origin:?}");
        } else {
            assert_eq!(res.status(), status, "{origin:?}");
        }
    }
    // A name that resolves here but is not this server's (DNS rebinding): refused.
    let res = s
        .app
        .client
        .post(format!("{}/mcp", s.app.address))
        .header("host", "rebound.evil.example")
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(&token)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "forbidden");
}

#[tokio::test]
async fn mcp_calls_spend_from_the_users_and_the_clients_buckets() {
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    for (setting, limit_says) in [
        ("RATE_LIMIT_USER", "RATE_LIMIT_USER_PER_MINUTE"),
        ("RATE_LIMIT_API_KEY", "RATE_LIMIT_API_KEY_PER_MINUTE"),
    ] {
        let (rate, burst) = (format!("{setting}_PER_MINUTE"), format!("{setting}_BURST"));
        let s = server_with(&[(&rate, "60".to_owned()), (&burst, "2".to_owned())]).await;
        let (token, _) = s.mcp_tokens("ann@example.com").await;
        for _ in 0..2 {
            assert_eq!(mcp_call(&s, Some(&token), list.clone()).await.status(), 200);
        }
        let res = mcp_call(&s, Some(&token), list.clone()).await;
        assert_eq!(res.headers()["retry-after"], "1");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(limit_says),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_user_over_their_own_limit_spends_nothing_of_the_clients_bucket() {
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let s = server_with(&[
        ("RATE_LIMIT_USER_PER_MINUTE", "60".to_owned()),
        ("RATE_LIMIT_USER_BURST", "2".to_owned()),
        ("RATE_LIMIT_API_KEY_PER_MINUTE", "60".to_owned()),
        ("RATE_LIMIT_API_KEY_BURST", "3".to_owned()),
    ])
    .await;
    let (ann, _) = s.mcp_tokens("ann@example.com").await;
    let (bob, _) = s.mcp_tokens_in_new_browser("bob@example.com").await;
    for _ in 0..2 {
        assert_eq!(mcp_call(&s, Some(&ann), list.clone()).await.status(), 200);
    }
    for _ in 0..5 {
        let res = mcp_call(&s, Some(&ann), list.clone()).await;
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("RATE_LIMIT_USER"),
            "{body}"
        );
    }
    // The client's third token is still there for Bob.
    assert_eq!(mcp_call(&s, Some(&bob), list.clone()).await.status(), 200);
    assert_eq!(mcp_call(&s, Some(&bob), list).await.status(), 429);
}
