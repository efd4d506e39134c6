//! Exporting one's data over HTTP: inline when it fits an answer, else a download link that
//! opens a page and downloads once.

use serde_json::{json, Value};

use crate::helpers::{error_code, field, spawn_app, Browser, PUBLIC_URL};

fn conversation(summary: &str, size: usize) -> Value {
    json!({
        "summary": summary,
        "messages": [{ "role": "user", "content": "x".repeat(size) }],
    })
}

#[tokio::test]
async fn a_small_export_comes_in_the_answer_with_everything_but_tokens() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    let mut body = conversation("Practised greetings", 10);
    body["token"] = json!(token);
    assert_eq!(app.post("/conversations", &body).await.status(), 200);

    let res = app.post("/me/export", &json!({ "token": token })).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&token), "never the session token");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["complete"], true);
    assert!(answer.get("downloadUrl").is_none());
    let data = &answer["data"];
    assert_eq!(
        data["identities"],
        json!([{ "kind": "email", "value": "ann@example.com" }])
    );
    assert_eq!(data["conversations"][0]["summary"], "Practised greetings");
    assert_eq!(data["accounts"], json!([]));
    assert_eq!(
        data["sessions"].as_array().unwrap().len(),
        1,
        "this session"
    );
    assert!(data["user"]["id"].is_string() && data["exportedAt"].is_string());

    let res = app.post("/me/export", &json!({})).await;
    assert_eq!(error_code(res, 401).await, "not_signed_in");
}

#[tokio::test]
async fn a_large_export_is_a_link_that_opens_a_page_and_downloads_once() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    for n in 0..2 {
        let mut body = conversation(&format!("long {n}"), 60_000);
        body["token"] = json!(token);
        assert_eq!(app.post("/conversations", &body).await.status(), 200);
    }
    let answer: Value = app
        .post("/me/export", &json!({ "token": token }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["complete"], false);
    assert!(answer.get("data").is_none());
    let url = answer["downloadUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{PUBLIC_URL}/me/export/download?token=")),
        "{url}"
    );
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("once, within 10 minutes"));

    let browser = Browser::new(&app.address);
    for _ in 0..2 {
        let (status, html) = browser.open(url).await;
        assert_eq!(status, 200, "opening it uses nothing up");
        assert!(html.contains("Download your data"), "{html}");
        assert!(html.contains("action=\"download\""));
    }
    let (_, html) = browser.open(url).await;
    let (link, csrf) = (field(&html, "token"), field(&html, "csrf"));
    let res = browser
        .post_form_to("/me/export/download", &[("token", &link)])
        .await;
    assert_eq!(res.status(), 403, "no CSRF token");
    let res = browser
        .post_form_to("/me/export/download", &[("token", &link), ("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 200);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"gptgate-export-"),
        "{disposition}"
    );
    let data: Value = res.json().await.unwrap();
    assert_eq!(data["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(data["identities"][0]["value"], "ann@example.com");

    let res = browser
        .post_form_to("/me/export/download", &[("token", &link), ("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 400, "once only");
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Ask the GPT to export your data again"));
}

#[tokio::test]
async fn a_user_may_export_five_times_an_hour() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    for _ in 0..5 {
        let res = app.post("/me/export", &json!({ "token": token })).await;
        assert_eq!(res.status(), 200);
    }
    let res = app.post("/me/export", &json!({ "token": token })).await;
    assert_eq!(res.headers()["retry-after"], "3600");
    assert_eq!(error_code(res, 429).await, "export_limit");
}
