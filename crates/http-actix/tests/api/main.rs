//! HTTP-level tests: the real actix application on a random port, on the testkit fakes
//! (in-memory store, recording mailer, fake clock) with the real crypto adapters.

mod actions;
mod admin;
mod auth;
mod chat;
mod connections;
mod conversations;
mod export;
mod helpers;
mod integrations;
mod launch;
mod limits;
mod logs;
mod lti;
mod mcp;
mod meta;
mod metrics;
mod oauth;
mod providers;
mod reads;
