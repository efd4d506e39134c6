//! gptgate's HTTP layer (actix-web) and the `gptgate` binary's commands.
//!
//! Thin by design: handlers parse a request into domain types, call a use-case service from
//! `gptgate-ports`, and map the result to JSON. [`startup`] is the one place where adapters are
//! chosen and wired to ports.

pub mod api_key;
pub mod body;
pub mod browser;
pub mod caller;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pages;
pub mod privacy;
pub mod provider_names;
pub mod response_limit;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
