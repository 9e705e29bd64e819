//! The few calls of Stripe's API billing makes: create a customer, a
//! Checkout session and a customer-portal session. Requests are Stripe's
//! own shape (form-encoded, `Authorization: Bearer sk_...`) against a
//! configurable base URL, so a test's local stand-in answers them.
//!
//! Stripe's answers stay here: a failure is logged with what Stripe said
//! and reaches the client only as `billing.provider`.

use std::time::Duration;

use serde::Deserialize;

use super::config::BillingConfig;

/// A call to Stripe that did not give us what we asked for; the detail is
/// for the log.
#[derive(Debug, thiserror::Error)]
#[error("Stripe {call}: {detail}")]
pub struct StripeError {
    pub call: &'static str,
    pub detail: String,
}

/// What every creation call answers with (and all we read of it).
#[derive(Debug, Deserialize)]
pub struct Created {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
}

impl Created {
    /// The URL to send the user to, which `call` must have answered.
    fn into_url(self, call: &'static str) -> Result<String, StripeError> {
        self.url.ok_or_else(|| StripeError {
            call,
            detail: "the answer has no url".into(),
        })
    }
}

/// A Stripe API client for one configuration.
#[derive(Clone)]
pub struct Stripe {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret.
        f.debug_struct("Stripe")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// One line of a Checkout session.
pub struct CheckoutRequest<'a> {
    /// `payment` or `subscription`.
    pub mode: &'a str,
    pub price_id: &'a str,
    pub customer: &'a str,
    pub account_id: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

impl Stripe {
    pub fn new(cfg: &BillingConfig) -> Stripe {
        Stripe {
            http: reqwest::Client::builder()
                // A checkout waits on this call; a stuck one must not hang it.
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            base: cfg.api_base().to_string(),
            key: cfg.stripe_secret_key.clone(),
        }
    }

    async fn post(
        &self,
        call: &'static str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Created, StripeError> {
        let err = |detail: String| StripeError { call, detail };
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .form(form)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| err(e.to_string()))?;
        if !status.is_success() {
            // Stripe's error object names the problem (never the key).
            return Err(err(format!("HTTP {status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| err(format!("unreadable answer ({e}): {text}")))
    }

    /// `POST /v1/customers`, tagged with our account id for the dashboard.
    pub async fn create_customer(
        &self,
        account_id: &str,
        email: &str,
    ) -> Result<String, StripeError> {
        let c = self
            .post(
                "create customer",
                "/v1/customers",
                &[("email", email), ("metadata[account_id]", account_id)],
            )
            .await?;
        Ok(c.id)
    }

    /// `POST /v1/checkout/sessions`: the session's id and the URL to send
    /// the user to.
    pub async fn create_checkout(
        &self,
        r: &CheckoutRequest<'_>,
    ) -> Result<(String, String), StripeError> {
        let c = self
            .post(
                "create checkout session",
                "/v1/checkout/sessions",
                &[
                    ("mode", r.mode),
                    ("line_items[0][price]", r.price_id),
                    ("line_items[0][quantity]", "1"),
                    ("customer", r.customer),
                    ("client_reference_id", r.account_id),
                    ("success_url", r.success_url),
                    ("cancel_url", r.cancel_url),
                ],
            )
            .await?;
        let id = c.id.clone();
        Ok((id, c.into_url("create checkout session")?))
    }

    /// `POST /v1/billing_portal/sessions`: the customer portal's URL.
    pub async fn create_portal(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<String, StripeError> {
        self.post(
            "create portal session",
            "/v1/billing_portal/sessions",
            &[("customer", customer), ("return_url", return_url)],
        )
        .await?
        .into_url("create portal session")
    }
}
