//! Zoho CRM's actions against wiremock, with Zoho's real answers, at the account's own data
//! centre.

mod support;

use gptgate_adapters_oauth::actions::zoho;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionError, ProviderActions};
use serde_json::{json, Map, Value};
use time::Duration;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn actions(api: &MockServer) -> zoho::ZohoActions {
    zoho::actions(&support::config(ProviderId::Zoho, api, "")).unwrap()
}

async fn run_at(
    configured: &MockServer,
    api_domain: Option<String>,
    action: &str,
    params: Value,
) -> Result<Value, ActionError> {
    let mut metadata = Map::new();
    if let Some(domain) = api_domain {
        metadata.insert("apiDomain".into(), json!(domain));
    }
    support::run_with(
        &actions(configured),
        "1000.zoho-access",
        &metadata,
        action,
        params,
    )
    .await
}

async fn run(server: &MockServer, action: &str, params: Value) -> Result<Value, ActionError> {
    run_at(server, Some(server.uri()), action, params).await
}

#[tokio::test]
async fn create_lead_posts_the_record_with_zohos_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v8/Leads"))
        .and(header("authorization", "Zoho-oauthtoken 1000.zoho-access"))
        .and(body_json(json!({ "data": [{
            "Last_Name": "Burns", "Company": "Acme Labs", "Email": "ana.burns@acme.example"
        }] })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "data": [{
            "code": "SUCCESS",
            "details": {
                "Modified_Time": "2026-11-27T10:15:00+00:00",
                "Modified_By": { "name": "Ana", "id": "5725767000000411001" },
                "Created_Time": "2026-11-27T10:15:00+00:00",
                "id": "5725767000000524157",
                "Created_By": { "name": "Ana", "id": "5725767000000411001" }
            },
            "message": "record added",
            "status": "success"
        }] })))
        .expect(1)
        .mount(&server)
        .await;
    let created = run(
        &server,
        "create-lead",
        json!({ "lastName": "Burns", "company": "Acme Labs", "email": "ana.burns@acme.example" }),
    )
    .await
    .unwrap();
    assert_eq!(created, json!({ "id": "5725767000000524157" }));
}

#[tokio::test]
async fn a_refused_record_keeps_zohos_code_and_words() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v8/Leads"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "data": [{
            "code": "INVALID_DATA",
            "details": { "api_name": "Email", "json_path": "$.data[0].Email" },
            "message": "invalid data",
            "status": "error"
        }] })))
        .mount(&server)
        .await;
    match run(
        &server,
        "create-lead",
        json!({ "lastName": "Burns", "company": "Acme", "email": "a@b" }),
    )
    .await
    {
        Err(ActionError::Rejected { code, message }) => {
            assert_eq!(code, "INVALID_DATA");
            assert_eq!(message.as_deref(), Some("invalid data"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_record_refused_inside_an_accepted_answer_keeps_at_most_500_characters_of_zohos_words() {
    // Zoho answers 202 when the request was read but a record in it was not created.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v8/Leads"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({ "data": [{
            "code": "DUPLICATE_DATA",
            "details": { "api_name": "Email" },
            "message": "d".repeat(501),
            "status": "error"
        }] })))
        .mount(&server)
        .await;
    match run(
        &server,
        "create-lead",
        json!({ "lastName": "Burns", "company": "Acme" }),
    )
    .await
    {
        Err(ActionError::Rejected { code, message }) => {
            assert_eq!(code, "DUPLICATE_DATA");
            assert_eq!(message, Some("d".repeat(500)));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn search_records_sends_the_criteria_and_leaves_zohos_internal_fields_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v8/Contacts/search"))
        .and(query_param("criteria", "(Last_Name:equals:Burns)"))
        .and(query_param("per_page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                { "Owner": { "name": "Ana", "id": "57257670000004" }, "Email": "p.burns@acme.example",
                  "$currency_symbol": "$", "$approved": true, "Last_Name": "Burns",
                  "First_Name": "Patricia", "Mailing_City": null, "id": "5725767000000431001" },
                { "Last_Name": "Burns", "First_Name": "Kim", "id": "5725767000000431002" }
            ],
            "info": { "per_page": 2, "count": 2, "page": 1, "more_records": true }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let found = run(
        &server,
        "search-records",
        json!({ "module": "Contacts", "criteria": "(Last_Name:equals:Burns)", "limit": 2 }),
    )
    .await
    .unwrap();
    let first = &found["records"][0];
    assert_eq!(first["Email"], "p.burns@acme.example");
    assert!(first.get("$currency_symbol").is_none());
    assert!(first.get("Mailing_City").is_none());
    assert_eq!(found["records"][1]["First_Name"], "Kim");
    assert_eq!(found["more"], true);
}

#[tokio::test]
async fn a_search_that_finds_nothing_is_an_empty_list() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v8/Leads/search"))
        .and(query_param("word", "zzzz"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let found = run(
        &server,
        "search-records",
        json!({ "module": "Leads", "word": "zzzz" }),
    )
    .await
    .unwrap();
    assert_eq!(found, json!({ "records": [], "more": false }));
}

#[tokio::test]
async fn an_unknown_api_domain_never_receives_the_token() {
    let configured = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let refused = run_at(
        &configured,
        Some(elsewhere.uri()),
        "search-records",
        json!({ "module": "Leads", "word": "acme" }),
    )
    .await;
    assert!(
        matches!(refused, Err(ActionError::Rejected { ref code, .. }) if code == "untrusted_api_domain"),
        "{refused:?}"
    );
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
    assert!(configured.received_requests().await.unwrap().is_empty());
}

async fn search_answers(status: u16, body: Value) -> Result<Value, ActionError> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v8/Leads/search"))
        .respond_with(
            ResponseTemplate::new(status)
                .insert_header("retry-after", "7")
                .set_body_json(body),
        )
        .mount(&server)
        .await;
    run_at(
        &server,
        None,
        "search-records",
        json!({ "module": "Leads", "word": "acme" }),
    )
    .await
}

#[tokio::test]
async fn zohos_errors_keep_their_meaning() {
    let error = |code: &str, message: &str| json!({ "code": code, "details": {}, "message": message, "status": "error" });
    assert!(matches!(
        search_answers(401, error("INVALID_TOKEN", "invalid oauth token")).await,
        Err(ActionError::Unauthorized)
    ));
    assert!(matches!(
        search_answers(401, error("OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")).await,
        Err(ActionError::Rejected { ref code, message: Some(ref m) }) if code == "OAUTH_SCOPE_MISMATCH" && m.contains("connect it again")
    ));
    assert!(matches!(
        search_answers(429, error("TOO_MANY_REQUESTS", "too many requests")).await,
        Err(ActionError::RateLimited { retry_after: Some(d) }) if d == Duration::seconds(7)
    ));
    assert!(matches!(
        search_answers(500, error("INTERNAL_ERROR", "Internal Server Error")).await,
        Err(ActionError::Unavailable(_))
    ));
    assert!(matches!(
        search_answers(400, json!({
            "code": "INVALID_QUERY",
            "details": { "reason": "invalid operator found", "api_name": "Last_Name", "operator": "equal" },
            "message": "Invalid query formed", "status": "error"
        })).await,
        Err(ActionError::Rejected { ref code, message: Some(ref m) }) if code == "INVALID_QUERY" && m == "Invalid query formed"
    ));
}

#[tokio::test]
async fn bad_params_are_refused_before_zoho_is_called() {
    let server = MockServer::start().await;
    let zoho = actions(&server);
    let field = |action: &str, params: Value| match zoho.check(action, &params) {
        Err(ActionError::InvalidParams { field, .. }) => field,
        other => panic!("{action} {params}: {other:?}"),
    };
    let lead = |extra: Value| {
        let mut p = json!({ "lastName": "Burns", "company": "Acme" });
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    assert_eq!(
        field("create-lead", json!({ "company": "Acme" })),
        "lastName"
    );
    assert_eq!(field("create-lead", json!({ "lastName": "B" })), "company");
    assert!(zoho
        .check("create-lead", &lead(json!({ "lastName": "x".repeat(80) })))
        .is_ok());
    assert_eq!(
        field("create-lead", lead(json!({ "lastName": "x".repeat(81) }))),
        "lastName"
    );
    assert_eq!(
        field("create-lead", lead(json!({ "email": "not-an-address" }))),
        "email"
    );
    assert_eq!(
        field("search-records", json!({ "module": "Leads" })),
        "criteria"
    );
    assert_eq!(
        field(
            "search-records",
            json!({ "module": "Leads", "word": "ab", "criteria": "(a:equals:b)" })
        ),
        "word"
    );
    assert_eq!(
        field(
            "search-records",
            json!({ "module": "Invoices", "word": "ab" })
        ),
        "module"
    );
    assert_eq!(
        field("search-records", json!({ "module": "Leads", "word": "a" })),
        "word"
    );
    let search = |limit: u32| json!({ "module": "Leads", "word": "ab", "limit": limit });
    assert!(zoho.check("search-records", &search(50)).is_ok());
    assert!(zoho.check("search-records", &search(1)).is_ok());
    assert_eq!(field("search-records", search(51)), "limit");
    assert_eq!(field("search-records", search(0)), "limit");
    assert!(server.received_requests().await.unwrap().is_empty());
}
