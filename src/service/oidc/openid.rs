//! One OpenID Connect provider, through the `openidconnect` crate: its
//! discovery document and JWKS (cached; the JWKS fetched again when an ID
//! token names a key it does not have, as providers rotate keys), the
//! authorization URL, and the code exchange with the ID token's checks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreClient, CoreProviderMetadata, CoreResponseType, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, UserInfoError,
};

use super::config::ProviderConfig;
use super::{detail, exchange_error, SignInError, Started, Verified};
use crate::db::identities::PendingLogin;

/// Endpoints seldom move; a day-old discovery document is read again.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

type Discovered = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Cached {
    meta: Arc<CoreProviderMetadata>,
    at: Instant,
}

pub struct OpenId {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect: String,
    scopes: Vec<String>,
    http: reqwest::Client,
    cache: Mutex<Option<Cached>>,
}

impl OpenId {
    pub fn new(p: &ProviderConfig, redirect: String, http: reqwest::Client) -> OpenId {
        OpenId {
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.clone(),
            redirect,
            scopes: p.scopes(),
            http,
            cache: Mutex::new(None),
        }
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        // The guarded value is replaced whole, so a panic elsewhere
        // cannot leave it half-written.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, meta: CoreProviderMetadata) -> Arc<CoreProviderMetadata> {
        let meta = Arc::new(meta);
        *self.cached() = Some(Cached {
            meta: meta.clone(),
            at: Instant::now(),
        });
        meta
    }

    /// The discovery document with its JWKS, fetched when missing or old.
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, SignInError> {
        if let Some(c) = self.cached().as_ref() {
            if c.at.elapsed() < DISCOVERY_MAX_AGE {
                return Ok(c.meta.clone());
            }
        }
        let issuer = IssuerUrl::new(self.issuer.clone())
            .map_err(|e| SignInError::Provider(format!("issuer URL: {e}")))?;
        // This also checks that the document names this issuer.
        let meta = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| SignInError::Provider(format!("discovery: {}", detail(&e))))?;
        Ok(self.store(meta))
    }

    /// The JWKS fetched again, for a token signed with a key `stale`
    /// lacks. Only tokens from the provider's own token endpoint get here,
    /// so a client cannot make us fetch at will.
    async fn refresh_jwks(
        &self,
        stale: &CoreProviderMetadata,
    ) -> Result<Arc<CoreProviderMetadata>, SignInError> {
        let jwks = JsonWebKeySet::fetch_async(stale.jwks_uri(), &self.http)
            .await
            .map_err(|e| SignInError::Provider(format!("JWKS: {}", detail(&e))))?;
        tracing::info!(issuer = %self.issuer, keys = jwks.keys().len(), "JWKS fetched again for an unknown key");
        Ok(self.store(stale.clone().set_jwks(jwks)))
    }

    fn client(&self, meta: &CoreProviderMetadata) -> Result<Discovered, SignInError> {
        let redirect = RedirectUrl::new(self.redirect.clone())
            .map_err(|e| SignInError::Internal(format!("redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            meta.clone(),
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    pub async fn start(&self) -> Result<Started, SignInError> {
        let meta = self.metadata().await?;
        let client = self.client(&meta)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in &self.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            login: PendingLogin {
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                adult_confirmed: false,
            },
        })
    }

    pub async fn finish(
        &self,
        code: String,
        iss: Option<&str>,
        login: &PendingLogin,
    ) -> Result<Verified, SignInError> {
        let meta = self.metadata().await?;
        // RFC 9207: a provider that names itself in the callback must name
        // this one (an answer meant for another provider is refused).
        if let Some(iss) = iss.filter(|i| *i != meta.issuer().as_str()) {
            return Err(SignInError::BadToken(format!(
                "the callback's iss is {iss:?}"
            )));
        }
        let client = self.client(&meta)?;
        let token: CoreTokenResponse = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SignInError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(exchange_error)?;
        let id_token = openidconnect::TokenResponse::id_token(&token)
            .ok_or_else(|| SignInError::BadToken("the token answer has no id_token".into()))?;
        let nonce = Nonce::new(login.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let meta = self.refresh_jwks(&meta).await?;
                let fresh = self.client(&meta)?;
                let verified = id_token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(claims_error)?
                    .clone();
                verified
            }
            Err(e) => return Err(claims_error(e)),
        };
        let subject = claims.subject().to_string();
        // Google puts the email in the ID token; providers that follow the
        // spec's default (oidc-provider) answer it from UserInfo instead.
        if let Some(email) = claims.email() {
            return Ok(Verified {
                subject,
                email: Some(email.to_string()),
                email_verified: claims.email_verified() == Some(true),
            });
        }
        let info: CoreUserInfoClaims = client
            .user_info(token.access_token().clone(), Some(claims.subject().clone()))
            .map_err(|e| SignInError::Provider(format!("no UserInfo endpoint: {e}")))?
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                // Another subject's answer: token substitution.
                UserInfoError::ClaimsVerification(c) => SignInError::BadToken(c.to_string()),
                other => SignInError::Provider(format!("UserInfo: {}", detail(&other))),
            })?;
        Ok(Verified {
            subject,
            email: info.email().map(|e| e.to_string()),
            email_verified: info.email_verified() == Some(true),
        })
    }
}

fn claims_error(e: ClaimsVerificationError) -> SignInError {
    match e {
        ClaimsVerificationError::SignatureVerification(s) => {
            SignInError::BadSignature(s.to_string())
        }
        ClaimsVerificationError::InvalidNonce(n) => SignInError::BadNonce(n),
        other => SignInError::BadToken(other.to_string()),
    }
}
