use reqwest::Method;
use serde_json::Value;

use crate::helpers::{error_code, spawn_app};

#[tokio::test]
async fn health_and_readiness_answer_without_an_api_key() {
    let app = spawn_app().await;
    let res = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app.request(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let token = app.sign_in("ready@example.com").await;
    app.store.set_unavailable(true);
    let res = app.request(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(error_code(res, 503).await, "database_unavailable");
    // A GPT call says the same, and the service comes back with the database.
    let list = serde_json::json!({ "token": token });
    let res = app.post("/conversations/list", &list).await;
    assert_eq!(error_code(res, 503).await, "database_unavailable");
    app.store.set_unavailable(false);
    assert_eq!(app.post("/conversations/list", &list).await.status(), 200);
    let res = app.request(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_openapi_document_is_served_as_json_and_yaml() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["servers"][0]["url"], "http://localhost:8080");
    assert_eq!(
        doc["paths"]["/auth/send-link"]["post"]["operationId"],
        "sendVerificationCode"
    );
    let res = app
        .request(Method::GET, "/openapi.yaml")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    let yaml = res.text().await.unwrap();
    assert!(yaml.contains("operationId: verifyCode"), "{yaml}");
}

#[tokio::test]
async fn no_operation_needs_a_body_on_delete_and_each_delete_has_a_post_twin() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    let deletes: Vec<&String> = paths
        .iter()
        .filter(|(_, item)| item.get("delete").is_some())
        .map(|(path, _)| path)
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    for path in deletes {
        assert!(
            paths[path]["delete"].get("requestBody").is_none(),
            "DELETE {path} documents no body"
        );
        let twin = &paths[&format!("{path}/delete")]["post"];
        assert!(
            twin["requestBody"].is_object(),
            "POST {path}/delete carries the token"
        );
        assert!(twin["operationId"].as_str().unwrap().ends_with("WithToken"));
    }
}

#[tokio::test]
async fn the_privacy_policy_is_a_page_with_its_own_policy_header() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/privacy-policy")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("style-src 'unsafe-inline'"));
    let html = res.text().await.unwrap();
    assert!(
        html.contains("localhost:8080"),
        "the operator defaults to the public host"
    );
    assert!(html.contains("10 minutes") && html.contains("12 hours"));
    assert!(!html.contains("{{"));
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_error_shape() {
    let app = spawn_app().await;
    let res = app.request(Method::GET, "/nope").send().await.unwrap();
    assert_eq!(error_code(res, 404).await, "not_found");
    let res = app
        .request(Method::GET, "/auth/send-link")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 405).await, "method_not_allowed");
    let res = app
        .request(Method::PUT, "/conversations/123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "DELETE");
    assert_eq!(error_code(res, 405).await, "method_not_allowed");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/healthz", "/nope", "/openapi.json"] {
        let res = app.request(Method::GET, path).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert!(h.contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn every_error_the_server_itself_makes_carries_the_security_headers() {
    use crate::helpers::{serve_with, ServeOptions, BODY_LIMIT};
    use std::sync::Arc;
    // A database that never answers: /readyz runs into the (short) time limit.
    let store = Arc::new(gptgate_testkit::InMemoryStore::new());
    store.set_stalled(true);
    let served = serve_with(
        store,
        &[],
        ServeOptions {
            time_limit: std::time::Duration::from_millis(200),
            ..ServeOptions::default()
        },
    );
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", served.address);
    let cases = [
        (client.get(url("/nope")), 404, "not_found"),
        (
            client.get(url("/auth/send-link")),
            405,
            "method_not_allowed",
        ),
        (
            client
                .post(url("/auth/send-link"))
                .header("x-api-key", crate::helpers::API_KEY)
                .header("content-type", "application/json")
                .body(vec![b' '; BODY_LIMIT + 1]),
            413,
            "payload_too_large",
        ),
        (client.get(url("/readyz")), 503, "timeout"),
    ];
    for (request, status, code) in cases {
        let res = request.send().await.unwrap();
        let headers = res.headers().clone();
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ] {
            assert_eq!(
                headers.get(name).map(|v| v.to_str().unwrap()),
                Some(value),
                "{name} on the {status}"
            );
        }
        assert!(
            headers.contains_key("x-request-id"),
            "the {status} carries its request id"
        );
        assert_eq!(error_code(res, status).await, code);
    }
}

#[tokio::test]
async fn a_well_formed_request_id_is_kept_echoed_and_logged_and_any_other_replaced() {
    let app = spawn_app().await;
    let sent = "trace-7f3a_Q.9:2";
    let res = app
        .request(Method::POST, "/auth/send-link")
        .header("x-api-key", crate::helpers::API_KEY)
        .header("x-request-id", sent)
        .json(&serde_json::json!({ "email": "request-id@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], sent);
    // The handler's own line carries it, not only the access line.
    let logs =
        String::from_utf8_lossy(&crate::helpers::captured_logs().lock().unwrap()).into_owned();
    let line = logs
        .lines()
        .find(|l| l.contains(sent) && l.contains("sign-in code sent"))
        .unwrap_or_else(|| panic!("no handler line with the id"));
    assert!(!line.contains("request-id@example.com"), "{line}");
    let longest = "a".repeat(64);
    assert_eq!(
        app.request(Method::GET, "/healthz")
            .header("x-request-id", &longest)
            .send()
            .await
            .unwrap()
            .headers()["x-request-id"],
        longest.as_str()
    );
    for bad in [
        "a".repeat(65),
        "two words".into(),
        "semi;colon".into(),
        String::new(),
    ] {
        let res = app
            .request(Method::GET, "/healthz")
            .header("x-request-id", &bad)
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "a fresh id: {id}");
    }
}

#[tokio::test]
async fn every_operation_the_gpt_can_call_refuses_a_call_without_the_api_key() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json").await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let path = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        for method in ["get", "post", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let res = app
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &path,
                )
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(
                error_code(res, 401).await,
                "missing_api_key",
                "{method} {path} answered without the key"
            );
            checked += 1;
        }
    }
    assert!(checked >= 16, "every operation was tried: {checked}");
}
