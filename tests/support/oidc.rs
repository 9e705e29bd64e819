//! A real OpenID provider for sign-in tests, and a scripted browser to go
//! through it.
//!
//! [`OidcProvider`] runs `tools/oidc-provider/server.mjs`: panva's
//! certified `oidc-provider` (npm, installed by scripts/setup.sh) with its
//! development login and consent pages, configured over its `/__test/`
//! control routes with the service's client, the test users and whether
//! each one's email is verified. It can rotate its signing key and re-sign
//! the ID tokens it issues with a key of its own (see the script's header).
//!
//! [`Browser`] is what a person's browser does, by hand: no redirect is
//! followed automatically, cookies are kept per origin, the provider's
//! login form is posted with the user's login, its consent form with
//! "continue", and the callback URL the provider redirects to is handed
//! back before it is opened, so a test can open it twice, from another
//! browser, or with its state forged.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "vidmocap-test";
pub const CLIENT_SECRET: &str = "vidmocap-test-secret";

/// The provider's process, killed when dropped.
pub struct OidcProvider {
    pub issuer: String,
    child: Child,
    http: reqwest::Client,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OidcProvider {
    /// Starts the provider on a free port; it answers 503 until
    /// [`Self::configure`]d.
    pub fn start() -> OidcProvider {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the OpenID provider is not installed: run scripts/setup.sh \
             (or `npm ci --prefix tools/oidc-provider`)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node runs (scripts/setup.sh installs it)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // It goes on writing (warnings, notices): read both pipes to the
        // end, or its next write fails on a closed pipe and it dies. The
        // test's output shows them when it fails.
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                eprintln!("oidc-provider: {l}");
            }
        });
        std::thread::spawn(move || {
            for l in err.lines().map_while(Result::ok) {
                eprintln!("oidc-provider: {l}");
            }
        });
        let issuer = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .to_string();
        OidcProvider {
            issuer,
            child,
            http: reqwest::Client::new(),
        }
    }

    async fn control(&self, what: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/__test/{what}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "provider control {what}");
        r.json().await.unwrap()
    }

    /// Registers the client with `redirect_uri`, and the users as
    /// `(login, email, email_verified)`, whose email UserInfo answers.
    pub async fn configure(&self, redirect_uri: &str, users: &[(&str, &str, bool)]) {
        self.configure_with(redirect_uri, users, false).await;
    }

    /// [`Self::configure`], with the email in the ID token too when
    /// `claims_in_id_token` (as Google does).
    pub async fn configure_with(
        &self,
        redirect_uri: &str,
        users: &[(&str, &str, bool)],
        claims_in_id_token: bool,
    ) {
        let users: serde_json::Map<String, Value> = users
            .iter()
            .map(|(login, email, verified)| {
                (
                    login.to_string(),
                    json!({"email": email, "email_verified": verified}),
                )
            })
            .collect();
        self.control(
            "configure",
            json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [redirect_uri],
                "users": users,
                "claims_in_id_token": claims_in_id_token,
            }),
        )
        .await;
    }

    /// A new signing key; its kid.
    pub async fn rotate(&self) -> String {
        self.control("rotate", json!({})).await["kid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `Some("same_kid" | "other_kid")`: ID tokens re-signed with a key
    /// that is not the provider's; `None`: as issued.
    pub async fn tamper(&self, mode: Option<&str>) {
        self.control("tamper", json!({ "mode": mode })).await;
    }

    /// How often discovery and the JWKS were fetched: `(discovery, jwks)`.
    pub async fn fetches(&self) -> (u64, u64) {
        let s = self.control("stats", json!({})).await;
        (
            s["discovery"].as_u64().unwrap(),
            s["jwks"].as_u64().unwrap(),
        )
    }

    /// How often UserInfo was asked.
    pub async fn userinfo_calls(&self) -> u64 {
        self.control("stats", json!({})).await["userinfo"]
            .as_u64()
            .unwrap()
    }
}

/// What the user does at the provider.
#[derive(Clone, Copy)]
pub enum AtProvider<'a> {
    /// Logs in as this user and consents.
    SignIn(&'a str),
    /// Cancels on the login page.
    Cancel,
}

/// A browser with its own cookies, one jar per origin.
pub struct Browser {
    http: reqwest::Client,
    jar: Mutex<HashMap<String, HashMap<String, String>>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// A redirect's target, made absolute.
pub fn location(resp: &reqwest::Response) -> String {
    let loc = resp
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("{} has no Location", resp.url()))
        .to_str()
        .unwrap();
    resp.url().join(loc).unwrap().to_string()
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Mutex::default(),
        }
    }

    fn send_cookies(&self, req: reqwest::RequestBuilder, url: &Url) -> reqwest::RequestBuilder {
        let jar = self.jar.lock().unwrap();
        match jar.get(&origin(url)) {
            Some(c) if !c.is_empty() => {
                let v: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
                req.header(COOKIE, v.join("; "))
            }
            _ => req,
        }
    }

    fn keep_cookies(&self, resp: &reqwest::Response) {
        let mut jar = self.jar.lock().unwrap();
        let cookies = jar.entry(origin(resp.url())).or_default();
        for v in resp.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let Some((k, val)) = v.split(';').next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            if val.is_empty() || v.contains("Max-Age=0") || v.contains("max-age=0") {
                cookies.remove(k.trim());
            } else {
                cookies.insert(k.trim().to_string(), val.to_string());
            }
        }
    }

    /// A cookie this browser holds for `url`'s origin.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let url = Url::parse(url).unwrap();
        self.jar
            .lock()
            .unwrap()
            .get(&origin(&url))?
            .get(name)
            .cloned()
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        let u = Url::parse(url).unwrap();
        let r = self
            .send_cookies(self.http.get(u.clone()), &u)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&r);
        r
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let u = Url::parse(url).unwrap();
        let r = self
            .send_cookies(self.http.post(u.clone()).form(form), &u)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&r);
        r
    }

    /// Opens the service's start route, as sign-up does with "I am 18 or
    /// over" ticked; the provider URL it redirects to.
    pub async fn start(&self, app_base: &str, provider: &str) -> String {
        self.start_as(app_base, provider, true).await
    }

    /// The start route with or without sign-up's 18-or-over confirmation.
    pub async fn start_as(&self, app_base: &str, provider: &str, over_18: bool) -> String {
        let age = if over_18 { "?over_18=1" } else { "" };
        let r = self
            .get(&format!("{app_base}/v1/auth/oidc/{provider}/start{age}"))
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "start {provider}");
        location(&r)
    }

    /// From the provider's authorization URL through its pages, to the
    /// URL it sends the browser back to under `callback_prefix` (returned,
    /// not opened).
    pub async fn through_provider(
        &self,
        authorize: &str,
        what: AtProvider<'_>,
        callback_prefix: &str,
    ) -> String {
        let mut url = authorize.to_string();
        for _ in 0..16 {
            if url.starts_with(callback_prefix) {
                return url;
            }
            let r = self.get(&url).await;
            let status = r.status();
            if status.is_redirection() {
                url = location(&r);
                continue;
            }
            let html = r.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "the provider at {url}: {html}");
            let action = html
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no form at {url}: {html}"))
                .to_string();
            let login_page = html.contains("name=\"login\"");
            let r = match (what, login_page) {
                (AtProvider::Cancel, true) => self.get(&format!("{action}/abort")).await,
                (AtProvider::SignIn(login), true) => {
                    self.post_form(
                        &action,
                        &[("prompt", "login"), ("login", login), ("password", "any")],
                    )
                    .await
                }
                (_, false) => self.post_form(&action, &[("prompt", "consent")]).await,
            };
            assert!(
                r.status().is_redirection(),
                "form at {action}: {}",
                r.status()
            );
            url = location(&r);
        }
        panic!("the provider never sent the browser back (last at {url})");
    }

    /// Opens the service's callback URL: `Ok(session cookie)` when signed
    /// in (sent to the portal), `Err(code)` when sent back to its login
    /// view with an error.
    pub async fn finish(&self, callback: &str) -> Result<String, String> {
        let r = self.get(callback).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "callback {callback}");
        let to = location(&r);
        if let Some(code) = to.split("#/login?error=").nth(1) {
            assert!(
                set_cookie(&r, "vidmocap_session").is_none(),
                "a refused sign-in set a session"
            );
            return Err(code.to_string());
        }
        assert!(to.ends_with("/#/upload"), "signed in, then to {to}");
        Ok(set_cookie(&r, "vidmocap_session").expect("signed in with a session cookie"))
    }

    /// The whole sign-in as `login` with `provider`.
    pub async fn sign_in(
        &self,
        app_base: &str,
        provider: &str,
        login: &str,
    ) -> Result<String, String> {
        let authorize = self.start(app_base, provider).await;
        let callback = self
            .through_provider(
                &authorize,
                AtProvider::SignIn(login),
                &callback_url(app_base, provider),
            )
            .await;
        self.finish(&callback).await
    }
}

/// Where the service asks the provider to send the browser back.
pub fn callback_url(app_base: &str, provider: &str) -> String {
    format!("{app_base}/v1/auth/oidc/{provider}/callback")
}

/// The value a response's Set-Cookie gives `name`, when not a clearing.
pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let first = v.to_str().ok()?.split(';').next()?;
        let (k, val) = first.split_once('=')?;
        (k == name && !val.is_empty()).then(|| val.to_string())
    })
}
