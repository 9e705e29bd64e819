//! Sign-in with outside providers: OpenID Connect (Google and any
//! certified provider, by issuer URL) and GitHub (OAuth and its user API).
//!
//! Both run the authorization code flow with PKCE (S256) and a `state`;
//! OpenID Connect also sends a `nonce` and checks the ID token: its
//! signature against the provider's JWKS (from discovery, cached, fetched
//! again when a token names a key it lacks), issuer, audience, expiry and
//! nonce ([`openid`]). What the callback needs is kept server-side
//! ([`crate::db::identities`]), bound to the browser that began, and
//! taken once. The routes and how an identity becomes an account are in
//! [`routes`].

pub mod config;
mod github;
mod openid;
pub mod routes;

use std::collections::BTreeMap;
use std::time::Duration;

pub use config::{OidcConfig, ProviderConfig, ProviderKind};

use crate::db::identities::PendingLogin;

/// Who the provider says signed in.
#[derive(Debug)]
pub struct Verified {
    /// The provider's stable id for the user (`sub`; GitHub's numeric id).
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider says it verified `email`; absent is false.
    pub email_verified: bool,
}

/// A sign-in begun: where to send the browser, the `state` in that URL,
/// and what the callback will need.
pub struct Started {
    pub url: String,
    pub state: String,
    pub login: PendingLogin,
}

/// Why a sign-in failed; each has a stable code the portal shows in its
/// own words. The detail is for the log only.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("no such provider")]
    UnknownProvider,
    #[error("the provider failed: {0}")]
    Provider(String),
    #[error("the user or the provider ended the sign-in: {0}")]
    Denied(String),
    #[error("unknown, used, expired or another browser's state")]
    BadState,
    #[error("the provider refused the code: {0}")]
    BadCode(String),
    #[error("the ID token's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the ID token's nonce is not this sign-in's: {0}")]
    BadNonce(String),
    #[error("the ID token does not verify: {0}")]
    BadToken(String),
    #[error("the provider gave no email address")]
    NoEmail,
    #[error("the provider has not verified the email address")]
    EmailUnverified,
    #[error("a new account without sign-up's 18-or-over confirmation")]
    AgeUnconfirmed,
    #[error("internal: {0}")]
    Internal(String),
}

impl SignInError {
    pub fn code(&self) -> &'static str {
        match self {
            SignInError::UnknownProvider => "oidc.unknown_provider",
            SignInError::Provider(_) => "oidc.provider",
            SignInError::Denied(_) => "oidc.denied",
            SignInError::BadState => "oidc.bad_state",
            SignInError::BadCode(_) => "oidc.bad_code",
            SignInError::BadSignature(_) => "oidc.bad_signature",
            SignInError::BadNonce(_) => "oidc.bad_nonce",
            SignInError::BadToken(_) => "oidc.bad_token",
            SignInError::NoEmail => "oidc.no_email",
            SignInError::EmailUnverified => "oidc.email_unverified",
            SignInError::AgeUnconfirmed => "auth.age_unconfirmed",
            SignInError::Internal(_) => "internal",
        }
    }
}

impl From<crate::db::DbError> for SignInError {
    fn from(e: crate::db::DbError) -> Self {
        SignInError::Internal(format!("[{}] {e}", e.code()))
    }
}

/// An error and its sources on one line, for the log.
fn detail(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(x) = source {
        s.push_str(": ");
        s.push_str(&x.to_string());
        source = x.source();
    }
    s
}

/// A failed code exchange: refused by the provider (a code that is
/// wrong, used or not ours, a PKCE verifier that does not match) or the
/// provider not answering as it should.
fn exchange_error<RE, T>(e: oauth2::RequestTokenError<RE, T>) -> SignInError
where
    RE: std::error::Error + 'static,
    T: oauth2::ErrorResponse + 'static,
{
    let refused = matches!(e, oauth2::RequestTokenError::ServerResponse(_));
    let d = detail(&e);
    if refused {
        SignInError::BadCode(d)
    } else {
        SignInError::Provider(d)
    }
}

enum Client {
    OpenId(openid::OpenId),
    GitHub(github::GitHub),
}

/// One configured provider.
struct Provider {
    display_name: String,
    client: Client,
}

/// Every configured provider, by name.
pub struct Providers {
    by_name: BTreeMap<String, Provider>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

/// Where the provider sends the browser back for `name`.
pub fn redirect_uri(public_base_url: &str, name: &str) -> String {
    format!(
        "{}/v1/auth/oidc/{name}/callback",
        public_base_url.trim_end_matches('/')
    )
}

impl Providers {
    pub fn new(cfg: &OidcConfig, public_base_url: &str) -> Providers {
        // Never follow a redirect from a provider's endpoint: an answer
        // must come from the URL discovery or the configuration named.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        let by_name = cfg
            .providers
            .iter()
            .map(|(name, p)| {
                let redirect = redirect_uri(public_base_url, name);
                let client = match p.kind {
                    ProviderKind::Oidc => {
                        Client::OpenId(openid::OpenId::new(p, redirect, http.clone()))
                    }
                    ProviderKind::Github => {
                        Client::GitHub(github::GitHub::new(p, redirect, http.clone()))
                    }
                };
                let display_name = if p.display_name.is_empty() {
                    name.clone()
                } else {
                    p.display_name.clone()
                };
                (
                    name.clone(),
                    Provider {
                        display_name,
                        client,
                    },
                )
            })
            .collect();
        Providers { by_name }
    }

    /// `(name, display name)` of each provider, by name.
    pub fn list(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_name
            .iter()
            .map(|(n, p)| (n.as_str(), p.display_name.as_str()))
    }

    fn get(&self, name: &str) -> Result<&Provider, SignInError> {
        self.by_name.get(name).ok_or(SignInError::UnknownProvider)
    }

    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// A new sign-in with `name`.
    pub async fn start(&self, name: &str) -> Result<Started, SignInError> {
        match &self.get(name)?.client {
            Client::OpenId(c) => c.start().await,
            Client::GitHub(c) => c.start(),
        }
    }

    /// Exchanges the callback's `code` and verifies who signed in. `iss`
    /// is the callback's issuer parameter, when the provider sent one.
    pub async fn finish(
        &self,
        name: &str,
        code: String,
        iss: Option<&str>,
        login: &PendingLogin,
    ) -> Result<Verified, SignInError> {
        match &self.get(name)?.client {
            Client::OpenId(c) => c.finish(code, iss, login).await,
            Client::GitHub(c) => c.finish(code, login).await,
        }
    }
}
