//! `[service.oidc.providers.NAME]`: the providers people may sign in
//! with. Each client secret may come from `VIDMOCAP_OIDC_<NAME>_CLIENT_SECRET`
//! (the name upper-cased, `-` as `_`) rather than the file.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// How a provider is spoken to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenID Connect, found by discovery from the issuer URL (Google,
    /// Microsoft, Keycloak, Auth0, ...).
    #[default]
    Oidc,
    /// GitHub's OAuth apps: no ID token; the user and their verified
    /// emails come from its REST API.
    Github,
}

/// One provider.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    #[serde(default)]
    pub kind: ProviderKind,
    /// The button's words, "Sign in with {display_name}"; empty: the name.
    #[serde(default)]
    pub display_name: String,
    /// OpenID Connect: the issuer URL (`https://accounts.google.com`);
    /// discovery is at `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    /// Scopes asked for besides `openid` (OpenID Connect). Empty: `email`
    /// (and `user:email` for GitHub).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// GitHub: where its OAuth pages are; empty: `https://github.com`.
    #[serde(default)]
    pub auth_base: String,
    /// GitHub: where its REST API is; empty: `https://api.github.com`.
    #[serde(default)]
    pub api_base: String,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client secret is a secret.
        f.debug_struct("ProviderConfig")
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("auth_base", &self.auth_base)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl ProviderConfig {
    pub fn scopes(&self) -> Vec<String> {
        match (self.scopes.is_empty(), self.kind) {
            (false, _) => self.scopes.clone(),
            (true, ProviderKind::Oidc) => vec!["email".into()],
            (true, ProviderKind::Github) => vec!["user:email".into()],
        }
    }

    pub fn github_auth_base(&self) -> &str {
        base_or(&self.auth_base, "https://github.com")
    }

    pub fn github_api_base(&self) -> &str {
        base_or(&self.api_base, "https://api.github.com")
    }
}

fn base_or<'a>(configured: &'a str, default: &'a str) -> &'a str {
    if configured.is_empty() {
        default
    } else {
        configured.trim_end_matches('/')
    }
}

/// `[service.oidc]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// By name: the name is in the sign-in URLs
    /// (`/v1/auth/oidc/{name}/start`) and the redirect URI registered with
    /// the provider (`{public_base_url}/v1/auth/oidc/{name}/callback`).
    pub providers: BTreeMap<String, ProviderConfig>,
}

/// The variable a provider's client secret may come from.
pub fn secret_variable(name: &str) -> String {
    format!(
        "VIDMOCAP_OIDC_{}_CLIENT_SECRET",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

impl OidcConfig {
    pub fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>) {
        for (name, p) in &mut self.providers {
            if let Some(v) = get(&secret_variable(name)) {
                p.client_secret = v;
            }
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, p) in &self.providers {
            let bad = |m: &str| {
                Err(ConfigError::Invalid(format!(
                    "service.oidc.providers.{name}: {m}"
                )))
            };
            let name_ok = !name.is_empty()
                && name.len() <= 32
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !name_ok {
                return bad("a provider's name must be 1 to 32 of a-z, 0-9 and -");
            }
            if p.client_id.is_empty() || p.client_secret.is_empty() {
                return bad(&format!(
                    "needs client_id and client_secret (or {})",
                    secret_variable(name)
                ));
            }
            let urls = match p.kind {
                ProviderKind::Oidc if p.issuer.is_empty() => return bad("needs issuer"),
                ProviderKind::Oidc => vec![p.issuer.as_str()],
                ProviderKind::Github => vec![p.github_auth_base(), p.github_api_base()],
            };
            if urls
                .iter()
                .any(|u| !(u.starts_with("https://") || u.starts_with("http://")))
            {
                return bad("its URLs must be http(s)");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> OidcConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn providers_are_read_and_checked() {
        let mut cfg = parse(
            r#"
            [providers.google]
            issuer = "https://accounts.google.com"
            client_id = "abc.apps.googleusercontent.com"
            [providers.github]
            kind = "github"
            display_name = "GitHub"
            client_id = "Iv1.x"
            client_secret = "gh-secret"
            "#,
        );
        assert!(cfg.validate().is_err(), "google has no secret yet");
        cfg.apply_env(&|n: &str| {
            (n == "VIDMOCAP_OIDC_GOOGLE_CLIENT_SECRET").then(|| "g-secret".to_string())
        });
        cfg.validate().unwrap();
        let gh = &cfg.providers["github"];
        assert_eq!(gh.github_api_base(), "https://api.github.com");
        assert_eq!(gh.scopes(), ["user:email"]);
        assert_eq!(cfg.providers["google"].scopes(), ["email"]);
        // Secrets never reach a log.
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("g-secret") && !shown.contains("gh-secret"));

        cfg.providers.get_mut("google").unwrap().issuer = "ftp://x".into();
        assert!(cfg.validate().is_err(), "not http(s)");
        let bad_name = parse(
            r#"
            [providers."Google Login"]
            issuer = "https://accounts.google.com"
            client_id = "a"
            client_secret = "b"
            "#,
        );
        assert!(
            bad_name.validate().is_err(),
            "a name that is no URL segment"
        );
    }
}
