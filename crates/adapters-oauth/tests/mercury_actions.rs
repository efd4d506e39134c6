//! Mercury's read-only actions against wiremock, with Mercury's real answers.

mod support;

use gptgate_adapters_oauth::actions::mercury;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionError, ProviderActions};
use serde_json::{json, Map, Value};
use time::Duration;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn actions(server: &MockServer) -> mercury::MercuryActions {
    mercury::actions(&support::config(ProviderId::Mercury, server, "/api/v1")).unwrap()
}

async fn run(server: &MockServer, action: &str, params: Value) -> Result<Value, ActionError> {
    support::run_with(
        &actions(server),
        "mercury-access",
        &Map::new(),
        action,
        params,
    )
    .await
}

const ACCOUNT: &str = "f5e2b6a4-1c3d-4e5f-8a9b-0c1d2e3f4a5b";

#[tokio::test]
async fn list_accounts_never_returns_account_or_routing_numbers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(header("authorization", "Bearer mercury-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "accounts": [{
                "id": ACCOUNT, "accountNumber": "987654321012", "routingNumber": "084106768",
                "name": "Mercury Checking ••9012", "status": "active", "type": "mercury",
                "createdAt": "2024-03-01T17:02:11.000Z", "availableBalance": 12500.42,
                "currentBalance": 12750.42, "kind": "checking", "canReceiveTransactions": true,
                "nickname": null, "legalBusinessName": "Acme Labs LLC"
            }]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let listed = run(&server, "list-accounts", json!({})).await.unwrap();
    let account = &listed["accounts"][0];
    assert_eq!(account["id"], ACCOUNT);
    assert_eq!(account["availableBalance"], 12500.42);
    assert_eq!(account["kind"], "checking");
    let text = listed.to_string();
    assert!(!text.contains("987654321012"), "{text}");
    assert!(!text.contains("084106768"), "{text}");
}

#[tokio::test]
async fn list_transactions_sends_the_window_and_says_when_there_are_more() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/account/{ACCOUNT}/transactions")))
        .and(query_param("limit", "2"))
        .and(query_param("start", "2026-10-01"))
        .and(query_param("end", "2026-10-31"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 14,
            "transactions": [
                { "id": "t1", "amount": -42.5, "counterpartyName": "AWS", "counterpartyId": "c1",
                  "bankDescription": "AMAZON WEB SERVICES", "note": null, "externalMemo": null,
                  "status": "sent", "kind": "debitCardTransaction",
                  "createdAt": "2026-10-30T10:00:00Z", "postedAt": "2026-10-31T10:00:00Z",
                  "dashboardLink": "https://app.mercury.com/transactions/t1", "details": {} },
                { "id": "t2", "amount": 1000, "counterpartyName": "Stripe", "status": "sent",
                  "kind": "externalTransfer", "createdAt": "2026-10-12T09:00:00Z", "postedAt": null }
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let listed = run(
        &server,
        "list-transactions",
        json!({ "accountId": ACCOUNT, "start": "2026-10-01", "end": "2026-10-31", "limit": 2 }),
    )
    .await
    .unwrap();
    assert_eq!(listed["transactions"][0]["counterpartyName"], "AWS");
    assert_eq!(listed["transactions"][1]["amount"], 1000);
    assert!(listed["transactions"][0].get("details").is_none());
    assert_eq!(listed["more"], true);
}

#[tokio::test]
async fn an_account_id_cannot_leave_its_path_segment() {
    let server = MockServer::start().await;
    let mercury = actions(&server);
    for hostile in ["../payments", ".\t.", "a/b", "a?b", "a#b", "a%2Fb", " a"] {
        assert!(
            matches!(
                mercury.check("list-transactions", &json!({ "accountId": hostile })),
                Err(ActionError::InvalidParams { ref field, .. }) if field == "accountId"
            ),
            "{hostile:?}"
        );
        // Even run unchecked, nothing leaves the account's segment.
        assert!(run(
            &server,
            "list-transactions",
            json!({ "accountId": hostile })
        )
        .await
        .is_err());
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

async fn accounts_answer(status: u16, body: Value) -> Result<Value, ActionError> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .respond_with(
            ResponseTemplate::new(status)
                .insert_header("retry-after", "12")
                .set_body_json(body),
        )
        .mount(&server)
        .await;
    run(&server, "list-accounts", json!({})).await
}

#[tokio::test]
async fn mercurys_errors_keep_their_meaning() {
    assert!(matches!(
        accounts_answer(
            401,
            json!({ "errors": { "errorCode": "unauthorized", "message": "Invalid token" } })
        )
        .await,
        Err(ActionError::Unauthorized)
    ));
    assert!(matches!(
        accounts_answer(429, json!({ "errors": { "message": "Too many requests" } })).await,
        Err(ActionError::RateLimited { retry_after: Some(d) }) if d == Duration::seconds(12)
    ));
    assert!(matches!(
        accounts_answer(503, json!({})).await,
        Err(ActionError::Unavailable(_))
    ));
    match accounts_answer(
        404,
        json!({ "errors": { "errorCode": "notFound", "message": "Account not found" } }),
    )
    .await
    {
        Err(ActionError::Rejected { code, message }) => {
            assert_eq!(code, "notFound");
            assert_eq!(message.as_deref(), Some("Account not found"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        accounts_answer(403, json!("forbidden")).await,
        Err(ActionError::Rejected { ref code, message: None }) if code == "http_403"
    ));
}

#[tokio::test]
async fn bad_params_are_refused_before_mercury_is_called() {
    let server = MockServer::start().await;
    let mercury = actions(&server);
    let field = |action: &str, params: Value| match mercury.check(action, &params) {
        Err(ActionError::InvalidParams { field, .. }) => field,
        other => panic!("{action} {params}: {other:?}"),
    };
    let ok = |params: Value| mercury.check("list-transactions", &params).is_ok();
    assert_eq!(field("list-accounts", json!({ "limit": 1 })), "limit");
    assert_eq!(field("list-transactions", json!({})), "accountId");
    assert_eq!(
        field("list-transactions", json!({ "accountId": "" })),
        "accountId"
    );
    assert!(ok(json!({ "accountId": "a".repeat(100) })));
    assert_eq!(
        field("list-transactions", json!({ "accountId": "a".repeat(101) })),
        "accountId"
    );
    assert!(ok(json!({ "accountId": "a", "limit": 100 })));
    assert!(ok(json!({ "accountId": "a", "limit": 1 })));
    assert_eq!(
        field(
            "list-transactions",
            json!({ "accountId": "a", "limit": 101 })
        ),
        "limit"
    );
    assert_eq!(
        field("list-transactions", json!({ "accountId": "a", "limit": 0 })),
        "limit"
    );
    assert_eq!(
        field(
            "list-transactions",
            json!({ "accountId": "a", "start": "2026-13-01" })
        ),
        "start"
    );
    assert_eq!(
        field(
            "list-transactions",
            json!({ "accountId": "a", "end": "yesterday" })
        ),
        "end"
    );
    assert!(ok(
        json!({ "accountId": "a", "start": "2026-10-01", "end": "2026-10-01" })
    ));
    assert_eq!(
        field(
            "list-transactions",
            json!({ "accountId": "a", "start": "2026-10-02", "end": "2026-10-01" })
        ),
        "end"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_answer_larger_than_eight_mebibytes_is_refused_not_read() {
    let server = MockServer::start().await;
    let huge = json!({ "accounts": [{ "name": "x".repeat(8 * 1024 * 1024) }] });
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(huge))
        .mount(&server)
        .await;
    assert!(matches!(
        run(&server, "list-accounts", json!({})).await,
        Err(ActionError::Rejected { ref code, .. }) if code == "answer_too_large"
    ));
    let server = MockServer::start().await;
    let fits = json!({ "accounts": [{ "name": "x".repeat(8 * 1024 * 1024 - 100) }] });
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fits))
        .mount(&server)
        .await;
    assert!(run(&server, "list-accounts", json!({})).await.is_ok());
}
