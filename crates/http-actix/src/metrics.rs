//! `GET /metrics` in the Prometheus text format: requests by route template, method and status
//! with their latency, sign-in emails by outcome, provider calls by provider, call and outcome,
//! rate-limit refusals, the database pools' use.
//! The mailer and the providers are counted by wrapping their ports where the server is put
//! together, so the adapters and the use cases know nothing of it; each failure is also logged
//! once, at warn, naming what failed (never an address, a code or a token).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use gptgate_domain::{Email, ProviderId, VerificationCode};
use gptgate_ports::{
    Authorization, MailError, Mailer, OAuthProvider, ProviderError, Revocation, Revoked, TokenSet,
};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use secrecy::SecretString;
use serde_json::{Map, Value};

/// The server's metrics, in a registry of its own (several servers in one process, as in the
/// tests, count apart).
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    emails: IntCounterVec,
    provider_calls: IntCounterVec,
    rate_limited: IntCounterVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGaugeVec,
}

/// A metric's definition is fixed: failing to build one is a bug caught by the tests.
fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
    registry
        .register(Box::new(counter.clone()))
        .expect("a metric registered once");
    counter
}

impl Metrics {
    #[allow(
        clippy::new_without_default,
        reason = "a registry per server, made where the server is"
    )]
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = counter(
            &registry,
            "gptgate_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            &["route", "method", "status"],
        );
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "gptgate_http_request_duration_seconds",
                "Time to answer an HTTP request (to its first byte for a stream), by route template and method.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method"],
        )
        .expect("a valid histogram");
        registry
            .register(Box::new(latency.clone()))
            .expect("a metric registered once");
        let emails = counter(
            &registry,
            "gptgate_emails_total",
            "Sign-in emails, by outcome (sent, failed).",
            &["outcome"],
        );
        let provider_calls = counter(
            &registry,
            "gptgate_provider_calls_total",
            "Calls to the OAuth providers, by provider, call (exchange_code, identify, refresh, revoke) and outcome (ok, rejected, grant_revoked, unavailable, not_attempted).",
            &["provider", "call", "outcome"],
        );
        let rate_limited = counter(
            &registry,
            "gptgate_rate_limited_total",
            "Requests refused by a rate limit, by limit (api_key, user, address).",
            &["limit"],
        );
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
            registry
                .register(Box::new(gauge.clone()))
                .expect("a metric registered once");
            gauge
        };
        let pool_connections = gauge(
            "gptgate_db_pool_connections",
            "Database connections open, by pool and state (in_use, idle), when scraped.",
            &["pool", "state"],
        );
        let pool_max = gauge(
            "gptgate_db_pool_max_connections",
            "The most connections each database pool opens.",
            &["pool"],
        );
        Self {
            registry,
            requests,
            latency,
            emails,
            provider_calls,
            rate_limited,
            pool_connections,
            pool_max,
        }
    }

    /// Counts a request refused by the rate limit `limit`.
    pub fn rate_limited(&self, limit: gptgate_ports::services::Limit) {
        self.rate_limited.with_label_values(&[limit.name()]).inc();
    }

    /// Counts a request to `route` (its template, such as `/conversations/{id}`; `unmatched`
    /// for a path no route has, so made-up paths cannot grow the series).
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        // Any other method name counts as one: made-up methods cannot grow the series.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// Everything, in the Prometheus text format, the store's pools as `pools` says they are
    /// used now.
    pub fn render(&self, pools: &[gptgate_ports::PoolUse]) -> String {
        for pool in pools {
            let idle = i64::from(pool.idle);
            let in_use = i64::from(pool.open).saturating_sub(idle).max(0);
            self.pool_connections
                .with_label_values(&[pool.pool, "in_use"])
                .set(in_use);
            self.pool_connections
                .with_label_values(&[pool.pool, "idle"])
                .set(idle);
            self.pool_max
                .with_label_values(&[pool.pool])
                .set(i64::from(pool.max));
        }
        let mut out = Vec::new();
        // Encoding what the registry holds into memory cannot fail.
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn provider_call(&self, provider: ProviderId, call: &str, outcome: &str) {
        self.provider_calls
            .with_label_values(&[provider.as_str(), call, outcome])
            .inc();
    }
}

/// The mailer, counted.
pub struct MeteredMailer {
    pub inner: Arc<dyn Mailer>,
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl Mailer for MeteredMailer {
    async fn send_sign_in_code(
        &self,
        to: &Email,
        code: &VerificationCode,
        valid_for: time::Duration,
    ) -> Result<(), MailError> {
        let result = self.inner.send_sign_in_code(to, code, valid_for).await;
        let outcome = if result.is_ok() { "sent" } else { "failed" };
        self.metrics.emails.with_label_values(&[outcome]).inc();
        if let Err(e) = &result {
            tracing::warn!(error = %e, "a sign-in email could not be sent");
        }
        result
    }
}

/// A provider, counted.
pub struct MeteredProvider {
    pub inner: Arc<dyn OAuthProvider>,
    pub metrics: Arc<Metrics>,
}

impl MeteredProvider {
    fn count<T>(&self, call: &str, result: &Result<T, ProviderError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(ProviderError::Rejected { .. }) => "rejected",
            Err(ProviderError::GrantRevoked { .. }) => "grant_revoked",
            Err(ProviderError::Unavailable(_)) => "unavailable",
        };
        self.metrics.provider_call(self.inner.id(), call, outcome);
        if let Err(e) = result {
            tracing::warn!(provider = %self.inner.id(), call, error = %e, "a provider call failed");
        }
    }
}

#[async_trait]
impl OAuthProvider for MeteredProvider {
    fn id(&self) -> ProviderId {
        self.inner.id()
    }

    fn authorize(&self, state: &str, redirect_uri: &str) -> Authorization {
        self.inner.authorize(state, redirect_uri)
    }

    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: Option<&SecretString>,
        redirect_uri: &str,
        callback: &BTreeMap<String, String>,
    ) -> Result<TokenSet, ProviderError> {
        let result = self
            .inner
            .exchange_code(code, pkce_verifier, redirect_uri, callback)
            .await;
        self.count("exchange_code", &result);
        result
    }

    async fn identify(&self, tokens: &TokenSet) -> Result<Map<String, Value>, ProviderError> {
        let result = self.inner.identify(tokens).await;
        self.count("identify", &result);
        result
    }

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        metadata: &Map<String, Value>,
    ) -> Result<TokenSet, ProviderError> {
        let result = self.inner.refresh(refresh_token, metadata).await;
        self.count("refresh", &result);
        result
    }

    async fn revoke(&self, account: &Revocation) -> Result<Revoked, ProviderError> {
        let result = self.inner.revoke(account).await;
        match &result {
            Ok(Revoked::NotAttempted) => {
                self.metrics
                    .provider_call(self.inner.id(), "revoke", "not_attempted");
            }
            _ => self.count("revoke", &result),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_template_with_their_latency() {
        let m = Metrics::new();
        m.request("/conversations/{id}", "GET", 200, 0.003);
        m.request("/conversations/{id}", "GET", 200, 0.2);
        m.request("unmatched", "GET", 404, 0.0001);
        m.request("unmatched", "BREW", 404, 0.0001);
        m.request("unmatched", "X-MADE-UP-1", 404, 0.0001);
        let text = m.render(&[]);
        assert!(
            !text.contains("BREW") && !text.contains("MADE-UP"),
            "{text}"
        );
        for line in [
            "gptgate_http_requests_total{method=\"GET\",route=\"/conversations/{id}\",status=\"200\"} 2",
            "gptgate_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
            "gptgate_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 2",
            "gptgate_http_request_duration_seconds_bucket{method=\"GET\",route=\"/conversations/{id}\",le=\"0.005\"} 1",
            "gptgate_http_request_duration_seconds_bucket{method=\"GET\",route=\"/conversations/{id}\",le=\"0.25\"} 2",
            "gptgate_http_request_duration_seconds_count{method=\"GET\",route=\"/conversations/{id}\"} 2",
            "# TYPE gptgate_http_request_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn the_pools_are_shown_as_they_are_when_scraped() {
        let m = Metrics::new();
        let pool = |open, idle| gptgate_ports::PoolUse {
            pool: "main",
            open,
            idle,
            max: 10,
        };
        let text = m.render(&[pool(7, 3)]);
        for line in [
            "gptgate_db_pool_connections{pool=\"main\",state=\"in_use\"} 4",
            "gptgate_db_pool_connections{pool=\"main\",state=\"idle\"} 3",
            "gptgate_db_pool_max_connections{pool=\"main\"} 10",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        let text = m.render(&[pool(2, 2)]);
        assert!(
            text.contains("gptgate_db_pool_connections{pool=\"main\",state=\"in_use\"} 0"),
            "{text}"
        );
    }
}
