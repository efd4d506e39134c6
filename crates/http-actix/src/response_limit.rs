//! Keeps a listing under ChatGPT's response limit (100,000 characters per action response).
//!
//! The body has the shape of `ConversationList`. Sizes are measured in characters of the
//! serialized JSON, as ChatGPT counts them. A page
//! ends early, with a cursor to continue, when the next conversation would not fit; only a
//! conversation too large to fit on a page of its own is cut, and it is marked `truncated`.

use gptgate_ports::services::Page;

use crate::routes::conversation_dto::ConversationDto;

/// ChatGPT's limit on an action response.
pub const RESPONSE_LIMIT: usize = 100_000;
/// Room kept for the envelope: `{"conversations":[...],"nextCursor":"..."}`.
const ENVELOPE: usize = 512;

fn size(item: &ConversationDto) -> usize {
    serde_json::to_string(item).map_or(usize::MAX, |s| s.chars().count())
}

/// The page as the JSON body of a [`ConversationList`], fitted to the limit. Each
/// conversation is serialized once: the text that is measured is the text that is sent.
pub fn fit_page(page: &Page) -> String {
    fit(page, RESPONSE_LIMIT - ENVELOPE)
}

fn fit(page: &Page, budget: usize) -> String {
    let mut items: Vec<String> = Vec::with_capacity(page.items.len());
    let mut used = 0;
    let mut next = page.next;
    for conversation in &page.items {
        let item = ConversationDto::from(conversation);
        let json = serde_json::to_string(&item).unwrap_or_default();
        let cost = json.chars().count() + 1;
        if used + cost <= budget {
            used += cost;
            items.push(json);
            continue;
        }
        if items.is_empty() {
            items.push(serde_json::to_string(&shrink_to(item, budget - 1)).unwrap_or_default());
        }
        // Continue after the last conversation shown.
        next = Some(page.items[items.len() - 1].cursor());
        break;
    }
    let next = serde_json::to_string(&next.map(|c| c.encode())).unwrap_or_else(|_| "null".into());
    format!(
        "{{\"conversations\":[{}],\"nextCursor\":{next}}}",
        items.join(",")
    )
}

/// Cuts every long text of `item` (message contents, raw_text lines, exercise notes) to the
/// longest common length that fits `budget`; if even empty texts do not fit, drops trailing
/// messages, lines and exercises.
fn shrink_to(mut item: ConversationDto, budget: usize) -> ConversationDto {
    item.truncated = true;
    let longest = item
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .chain(item.raw_text.iter().map(|t| t.chars().count()))
        .chain(
            item.exercises
                .iter()
                .filter_map(|e| e.notes.as_ref().map(|n| n.chars().count())),
        )
        .max()
        .unwrap_or(0);
    // Binary search for the largest cap that fits.
    let (mut lo, mut hi) = (0usize, longest);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if size(&capped(&item, mid)) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut item = capped(&item, lo);
    while size(&item) > budget {
        if item.messages.pop().is_none()
            && item.raw_text.pop().is_none()
            && item.exercises.pop().is_none()
        {
            break;
        }
    }
    item
}

fn cut(text: &str, cap: usize) -> String {
    match text.char_indices().nth(cap) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn capped(item: &ConversationDto, cap: usize) -> ConversationDto {
    let mut c = item.clone();
    for m in &mut c.messages {
        m.content = cut(&m.content, cap);
    }
    for t in &mut c.raw_text {
        *t = cut(t, cap);
    }
    for e in &mut c.exercises {
        e.notes = e.notes.as_deref().map(|n| cut(n, cap));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use gptgate_domain::{Conversation, ConversationId, Message, Role, UserId};
    use serde_json::Value;
    use time::{macros::datetime, Duration};

    fn conversation(n: u8, content_len: usize, messages: usize) -> Conversation {
        let at = datetime!(2026-01-01 00:00 UTC) + Duration::seconds(n.into());
        Conversation {
            id: ConversationId::from_random_bytes([n; 16]),
            user_id: UserId::from_random_bytes([0; 16]),
            external_id: None,
            title: None,
            summary: "s".into(),
            messages: (0..messages)
                .map(|_| Message {
                    role: Role::User,
                    content: "é".repeat(content_len),
                })
                .collect(),
            raw_text: vec![],
            exercises: vec![],
            created_at: at,
            updated_at: at,
        }
    }

    fn parsed(body: &str) -> Value {
        serde_json::from_str(body).expect("the body is JSON")
    }

    #[test]
    fn a_small_page_is_returned_whole() {
        let page = Page {
            items: vec![conversation(2, 10, 2), conversation(1, 10, 2)],
            next: None,
        };
        let list = parsed(&fit_page(&page));
        assert_eq!(list["conversations"].as_array().unwrap().len(), 2);
        assert_eq!(list["conversations"][1]["truncated"], false);
        assert_eq!(list["nextCursor"], Value::Null);
    }

    #[test]
    fn the_next_cursor_of_a_full_page_is_kept() {
        let items = vec![conversation(1, 10, 1)];
        let cursor = items[0].cursor();
        let list = parsed(&fit_page(&Page {
            items,
            next: Some(cursor),
        }));
        assert_eq!(list["nextCursor"], cursor.encode());
    }

    #[test]
    fn a_page_stops_before_the_conversation_that_would_overflow() {
        let page = Page {
            items: (1..=4).rev().map(|n| conversation(n, 10_000, 3)).collect(),
            next: None,
        };
        let body = fit_page(&page);
        assert!(body.chars().count() < RESPONSE_LIMIT);
        let list = parsed(&body);
        let shown = list["conversations"].as_array().unwrap();
        assert!(shown.len() < 4);
        assert!(
            shown.iter().all(|c| c["truncated"] == false),
            "whole ones are not cut"
        );
        let last = &page.items[shown.len() - 1];
        assert_eq!(
            list["nextCursor"],
            last.cursor().encode(),
            "the rest comes next"
        );
    }

    #[test]
    fn one_huge_conversation_is_cut_and_marked() {
        let page = Page {
            items: vec![conversation(1, 400_000, 3), conversation(0, 10, 1)],
            next: None,
        };
        let body = fit_page(&page);
        let list = parsed(&body);
        let shown = list["conversations"].as_array().unwrap();
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0]["truncated"], true);
        assert_eq!(
            shown[0]["messages"].as_array().unwrap().len(),
            3,
            "every message is kept, shortened"
        );
        let len = body.chars().count();
        assert!(
            len < RESPONSE_LIMIT && len > RESPONSE_LIMIT - 10_000,
            "{len}"
        );
        assert!(list["nextCursor"].is_string());
    }

    #[test]
    fn a_conversation_with_too_many_messages_drops_trailing_ones() {
        let page = Page {
            items: vec![conversation(1, 5, 2_000)],
            next: None,
        };
        let body = fit(&page, 20_000);
        assert!(body.chars().count() <= 20_000 + 64);
        let list = parsed(&body);
        assert_eq!(list["conversations"][0]["truncated"], true);
        assert!(
            list["conversations"][0]["messages"]
                .as_array()
                .unwrap()
                .len()
                < 2_000
        );
    }
}
