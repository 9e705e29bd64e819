//! GitHub, which has no OpenID Connect for people: an OAuth app's
//! authorization code flow (with PKCE), then `GET /user` for the stable
//! numeric id and `GET /user/emails` for the primary email and whether
//! GitHub verified it. Both base URLs are configurable, so a test's
//! stand-in can answer.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::config::ProviderConfig;
use super::{detail, exchange_error, SignInError, Started, Verified};
use crate::db::identities::PendingLogin;

pub struct GitHub {
    client_id: String,
    client_secret: String,
    redirect: String,
    scopes: Vec<String>,
    auth_base: String,
    api_base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct User {
    id: u64,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

/// GitHub answers a refused code with HTTP 200 and this body.
#[derive(Deserialize)]
struct Refusal {
    error: String,
}

impl GitHub {
    pub fn new(p: &ProviderConfig, redirect: String, http: reqwest::Client) -> GitHub {
        GitHub {
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.clone(),
            redirect,
            scopes: p.scopes(),
            auth_base: p.github_auth_base().to_string(),
            api_base: p.github_api_base().to_string(),
            http,
        }
    }

    fn urls(&self) -> Result<(AuthUrl, TokenUrl, RedirectUrl), SignInError> {
        let bad = |e: oauth2::url::ParseError| SignInError::Internal(format!("GitHub URL: {e}"));
        Ok((
            AuthUrl::new(format!("{}/login/oauth/authorize", self.auth_base)).map_err(bad)?,
            TokenUrl::new(format!("{}/login/oauth/access_token", self.auth_base)).map_err(bad)?,
            RedirectUrl::new(self.redirect.clone()).map_err(bad)?,
        ))
    }

    pub fn start(&self) -> Result<Started, SignInError> {
        let (auth, _, redirect) = self.urls()?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(auth)
            .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge);
        for s in &self.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state) = req.url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            // OAuth has no ID token for a nonce to be in.
            login: PendingLogin {
                nonce: String::new(),
                pkce_verifier: verifier.secret().clone(),
                adult_confirmed: false,
            },
        })
    }

    pub async fn finish(
        &self,
        code: String,
        login: &PendingLogin,
    ) -> Result<Verified, SignInError> {
        let (auth, token_url, redirect) = self.urls()?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            // GitHub documents the id and secret as form fields.
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(auth)
            .set_token_uri(token_url)
            .set_redirect_uri(redirect);
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match &e {
                RequestTokenError::Parse(_, body) => {
                    match serde_json::from_slice::<Refusal>(body) {
                        Ok(r) => SignInError::BadCode(format!("GitHub: {}", r.error)),
                        Err(_) => exchange_error(e),
                    }
                }
                _ => exchange_error(e),
            })?;
        let bearer = token.access_token().secret();
        let user: User = self.api(bearer, "/user").await?;
        let emails: Vec<Email> = self.api(bearer, "/user/emails").await?;
        let primary = emails.into_iter().find(|e| e.primary);
        Ok(Verified {
            subject: user.id.to_string(),
            email_verified: primary.as_ref().is_some_and(|e| e.verified),
            email: primary.map(|e| e.email),
        })
    }

    async fn api<T: serde::de::DeserializeOwned>(
        &self,
        bearer: &str,
        path: &str,
    ) -> Result<T, SignInError> {
        let fail = |d: String| SignInError::Provider(format!("GitHub {path}: {d}"));
        let resp = self
            .http
            .get(format!("{}{path}", self.api_base))
            .bearer_auth(bearer)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            // GitHub refuses requests without one.
            .header("user-agent", "vidmocap")
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| fail(detail(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        resp.json().await.map_err(|e| fail(detail(&e)))
    }
}
