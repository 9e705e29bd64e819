//! The service's settings: `[service]` in `vidmocap.toml`, then
//! `VIDMOCAP_*` variables. Secrets get a redacting `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::store::StoreConfig;

/// No retention, default or chosen, may pass ten years: far past any
/// real need, and far from where days turned into milliseconds overflow.
pub const MAX_RETENTION_DAYS: i64 = 3650;

/// Limits and queue position bought with a subscription tier.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Longest clip accepted, seconds.
    pub max_clip_s: f64,
    /// Jobs of one account running at the same time; more wait in the queue.
    pub max_running: i64,
    /// Higher runs first.
    pub priority: i64,
}

/// Price factor per quality preset, on `credits_per_second`: the presets
/// cost different amounts of compute (heavy is about three times full).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityPrices {
    pub fast: f64,
    pub balanced: f64,
    pub best: f64,
}

impl Default for QualityPrices {
    fn default() -> Self {
        QualityPrices {
            fast: 0.5,
            balanced: 1.0,
            best: 2.0,
        }
    }
}

impl QualityPrices {
    pub fn factor(&self, q: crate::config::Quality) -> f64 {
        match q {
            crate::config::Quality::Fast => self.fast,
            crate::config::Quality::Balanced => self.balanced,
            crate::config::Quality::Best => self.best,
        }
    }
}

/// A credit pack sold once through Stripe Checkout.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// Our name for it, what the portal sends to `/v1/billing/checkout`.
    pub id: String,
    pub name: String,
    /// Stripe's price id (`price_...`): what the payment is for, and the
    /// only thing a webhook is believed about.
    pub price_id: String,
    pub credits: i64,
    /// The price as the portal shows it ("€9"); Stripe's price decides
    /// what is charged.
    pub amount_display: String,
}

/// A subscription plan: a tier while it runs and credits every month.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub price_id: String,
    /// Credits each paid invoice adds.
    pub monthly_credits: i64,
    /// One of `service.tiers`: the account's tier while the plan runs.
    pub tier: String,
    pub amount_display: String,
}

/// `[service.billing]`: Stripe and what we sell through it. Without a
/// secret key the billing routes answer `billing.disabled`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    /// Stripe's secret API key (`sk_live_...` or `sk_test_...`).
    pub stripe_secret_key: String,
    /// Where Stripe's API is; empty: `https://api.stripe.com`. Tests point
    /// it at a local stand-in.
    pub stripe_api_base: String,
    /// Where Checkout sends the user back; empty: the portal's own URL.
    pub success_url: String,
    pub cancel_url: String,
    pub packs: Vec<Pack>,
    pub plans: Vec<Plan>,
}

impl fmt::Debug for BillingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a secret; which offers exist is not.
        f.debug_struct("BillingConfig")
            .field("enabled", &self.enabled())
            .field("stripe_api_base", &self.api_base())
            .field("packs", &self.packs)
            .field("plans", &self.plans)
            .finish_non_exhaustive()
    }
}

/// What a configured offer is, found by our id.
#[derive(Clone, Copy, Debug)]
pub enum Offer<'a> {
    Pack(&'a Pack),
    Plan(&'a Plan),
}

impl BillingConfig {
    pub fn enabled(&self) -> bool {
        !self.stripe_secret_key.is_empty()
    }

    pub fn api_base(&self) -> &str {
        if self.stripe_api_base.is_empty() {
            "https://api.stripe.com"
        } else {
            self.stripe_api_base.trim_end_matches('/')
        }
    }

    pub fn offer(&self, id: &str) -> Option<Offer<'_>> {
        self.packs
            .iter()
            .find(|p| p.id == id)
            .map(Offer::Pack)
            .or_else(|| self.plans.iter().find(|p| p.id == id).map(Offer::Plan))
    }

    pub fn plan_by_price(&self, price_id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.price_id == price_id)
    }

    fn validate(&self, tiers: &BTreeMap<String, Tier>) -> Result<(), ConfigError> {
        let bad = |m: String| -> Result<(), ConfigError> {
            Err(ConfigError::Invalid(format!("service.billing: {m}")))
        };
        let mut ids = std::collections::BTreeSet::new();
        let mut prices = std::collections::BTreeSet::new();
        let offers = self
            .packs
            .iter()
            .map(|p| (&p.id, &p.price_id, p.credits))
            .chain(
                self.plans
                    .iter()
                    .map(|p| (&p.id, &p.price_id, p.monthly_credits)),
            );
        for (id, price, credits) in offers {
            if id.is_empty() || price.is_empty() {
                return bad("every pack and plan needs an id and a price_id".into());
            }
            if !ids.insert(id) || !prices.insert(price) {
                return bad(format!(
                    "offer {id:?}: ids and price ids must be unique across packs and plans"
                ));
            }
            if !(0..=crate::db::ledger::MAX_CREDITS).contains(&credits) {
                return bad(format!(
                    "offer {id:?}: credits must be 0 to the credit bound"
                ));
            }
        }
        if let Some(p) = self.plans.iter().find(|p| !tiers.contains_key(&p.tier)) {
            return bad(format!(
                "plan {:?} names tier {:?}, which is not one of service.tiers",
                p.id, p.tier
            ));
        }
        Ok(())
    }
}

/// `[service.split]`: long clips run as overlapping segments that any
/// worker may take, stitched and solved as one clip at the end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Split at all (false: every job runs on one worker).
    pub enabled: bool,
    /// Clips longer than this, seconds, are split; shorter ones run whole.
    pub min_clip_s: f64,
    /// Length of a segment, seconds (the clip is cut into equal parts of
    /// about this length).
    pub segment_s: f64,
    /// Seconds each segment runs into the next: the frames its tracks
    /// are matched on.
    pub overlap_s: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            enabled: true,
            min_clip_s: 60.0,
            segment_s: 20.0,
            overlap_s: 2.0,
        }
    }
}

/// `[service.user_webhooks]`: webhooks users register for their jobs'
/// events, and how deliveries are retried.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserWebhookConfig {
    /// Accept (and deliver to) URLs whose host is, or resolves to, a
    /// loopback, private, link-local or otherwise non-public address. Off
    /// in production: a webhook must not reach into the service's own
    /// network. Tests and a single-machine setup turn it on.
    pub allow_private_urls: bool,
    /// Delay before the second attempt, milliseconds; it doubles after
    /// each failed attempt, up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Attempts per event, the first included; then it is given up.
    pub max_attempts: i64,
    /// How long one attempt may take (connect, send, answer), milliseconds.
    pub timeout_ms: u64,
    /// How often each process looks for deliveries that are due, milliseconds.
    pub poll_ms: u64,
    /// Webhooks one account may register.
    pub max_per_account: i64,
    /// Finished deliveries older than this are deleted from the log, days.
    pub log_days: i64,
}

impl Default for UserWebhookConfig {
    fn default() -> Self {
        UserWebhookConfig {
            allow_private_urls: false,
            // 1, 2, 4 ... minutes, at most 6 hours apart: ten attempts
            // span about eight and a half hours.
            retry_base_ms: 60_000,
            retry_max_ms: 6 * 3600 * 1000,
            max_attempts: 10,
            timeout_ms: 10_000,
            poll_ms: 1000,
            max_per_account: 10,
            log_days: 30,
        }
    }
}

impl UserWebhookConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_base_ms == 0
            || self.retry_max_ms < self.retry_base_ms
            || !(1..=100).contains(&self.max_attempts)
            || self.timeout_ms == 0
            || self.poll_ms == 0
            || self.max_per_account < 0
            || !(1..=MAX_RETENTION_DAYS).contains(&self.log_days)
        {
            return Err(ConfigError::Invalid(format!(
                "service.user_webhooks: retry_base_ms, timeout_ms and poll_ms must be above 0, \
                 retry_max_ms at least retry_base_ms, max_attempts 1 to 100, \
                 max_per_account not negative, log_days 1 to {MAX_RETENTION_DAYS}"
            )));
        }
        Ok(())
    }
}

/// How mail leaves the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// No mail: the routes that need it answer `mail.disabled`, and no job
    /// notification is sent.
    #[default]
    Off,
    /// Through the SMTP server `smtp_host`.
    Smtp,
    /// Written to the service's log at info, links included, and sent
    /// nowhere: for a local operator, never for production (the links in
    /// it sign people in).
    Log,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded by STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a server on this machine or a private
    /// network (a local test server, a relay on localhost).
    None,
}

/// `[service.mail]`: where the service's mail goes and what its links
/// point at.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    pub transport: MailTransport,
    pub smtp_host: String,
    /// 0: the TLS mode's usual port (587, 465, or 25 for `none`).
    pub smtp_port: u16,
    pub tls: SmtpTls,
    /// SMTP credentials; empty: no AUTH. Best set by
    /// `VIDMOCAP_SMTP_USERNAME` and `VIDMOCAP_SMTP_PASSWORD`.
    pub smtp_username: String,
    pub smtp_password: String,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// Where links in mail point (the portal); empty:
    /// `service.public_base_url`.
    pub link_base_url: String,
    /// How long a password-reset link works, seconds (30 minutes).
    pub reset_ttl_secs: i64,
    /// How long an address-verification or email-change link works,
    /// seconds (a day).
    pub link_ttl_secs: i64,
    /// Longest wait for the SMTP server per command, seconds.
    pub timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: MailTransport::Off,
            smtp_host: String::new(),
            smtp_port: 0,
            tls: SmtpTls::Starttls,
            smtp_username: String::new(),
            smtp_password: String::new(),
            from: "vidmocap <no-reply@localhost>".into(),
            link_base_url: String::new(),
            reset_ttl_secs: 30 * 60,
            link_ttl_secs: 24 * 3600,
            timeout_secs: 30,
        }
    }
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password is a secret; the user name is not sent either,
        // only whether there is one.
        f.debug_struct("MailConfig")
            .field("transport", &self.transport)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.port())
            .field("tls", &self.tls)
            .field("auth", &!self.smtp_username.is_empty())
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl MailConfig {
    pub fn enabled(&self) -> bool {
        self.transport != MailTransport::Off
    }

    pub fn port(&self) -> u16 {
        match (self.smtp_port, self.tls) {
            (0, SmtpTls::Starttls) => 587,
            (0, SmtpTls::Tls) => 465,
            (0, SmtpTls::None) => 25,
            (p, _) => p,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(format!("service.mail: {m}")));
        if self.transport == MailTransport::Smtp && self.smtp_host.is_empty() {
            return bad("transport \"smtp\" needs smtp_host");
        }
        if self.enabled() && self.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad("from must be an address, or Name <address>");
        }
        if self.smtp_username.is_empty() != self.smtp_password.is_empty() {
            return bad("smtp_username and smtp_password go together");
        }
        if self.reset_ttl_secs < 1 || self.link_ttl_secs < 1 || self.timeout_secs < 1 {
            return bad("reset_ttl_secs, link_ttl_secs and timeout_secs must be at least 1");
        }
        Ok(())
    }
}

/// Everything `vidmocap serve` and `vidmocap worker` are told.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address the API listens on.
    pub bind: String,
    /// `sqlite://path` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// How clients reach this server; presigned local-store links start with
    /// it. Empty (the default): `http://` and the address the API listens on.
    pub public_base_url: String,
    /// Mark cookies `Secure`. Also set per request when a trusted proxy
    /// says `X-Forwarded-Proto: https`.
    pub cookie_secure: bool,
    /// Addresses of the reverse proxies in front of the API. Only from
    /// these are `X-Forwarded-For` (the client address, for rate limits)
    /// and `X-Forwarded-Proto` believed; empty: from nobody.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub session_idle_secs: i64,
    pub session_max_secs: i64,
    /// Credits per second of video, rounded up per job.
    pub credits_per_second: f64,
    pub min_job_credits: i64,
    /// Factor on `credits_per_second` per quality preset.
    pub quality_prices: QualityPrices,
    /// Credits a re-solve job costs (another person, rig or file set from a
    /// finished job's tracks; no model runs).
    pub resolve_credits: i64,
    /// Tier new accounts get.
    pub default_tier: String,
    pub tiers: BTreeMap<String, Tier>,
    /// Shared secret of the payment provider's webhook signatures.
    pub webhook_secret: String,
    /// Oldest webhook timestamp accepted, seconds.
    pub webhook_tolerance_secs: i64,
    /// Stripe Checkout, the customer portal, and the packs and plans sold.
    pub billing: BillingConfig,
    /// Webhooks users register: address rules and retries.
    pub user_webhooks: UserWebhookConfig,
    /// Sign-in with OpenID Connect providers and GitHub.
    pub oidc: super::oidc::OidcConfig,
    /// Mail (account links, job notifications) and where its links point.
    pub mail: MailConfig,
    /// Largest request body (an upload), bytes.
    pub max_upload_bytes: u64,
    /// In-process workers `serve` starts (0 = none).
    pub workers: usize,
    pub lease_secs: i64,
    pub max_attempts: i64,
    /// Splitting long clips across workers.
    pub split: SplitConfig,
    /// How often an idle worker looks for work, milliseconds, where there
    /// are no wake-ups (SQLite, or while PostgreSQL's LISTEN is down).
    pub poll_ms: u64,
    /// The same while PostgreSQL's LISTEN/NOTIFY wakes workers and event
    /// streams: only a safety net then.
    pub notify_poll_ms: u64,
    /// Uploads are deleted this many days after they arrive, for accounts
    /// that did not choose their own retention.
    pub upload_retention_days: i64,
    /// A job's outputs are deleted this many days after it ends, for
    /// accounts that did not choose; absent (the default): kept until the
    /// user deletes them.
    // Left out when absent: TOML has no null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_retention_days: Option<i64>,
    /// The longest retention, in days, an account may choose.
    pub max_retention_days: i64,
    /// How long a no-retain account's job outputs are kept after the job
    /// ends, hours.
    pub no_retain_output_hours: i64,
    /// Requests per minute per client address and per account (0 = no limit).
    pub rate_per_ip_per_min: u32,
    pub rate_per_account_per_min: u32,
    /// Failed logins per minute for one email from one address; past it
    /// that pair is refused without checking the password (0 = no limit).
    pub login_failures_per_min: u32,
    /// Password hashes computed at once (argon2 takes 19 MiB each).
    pub max_concurrent_hashes: usize,
    /// Uploads validated (probed and fully decoded) at once, and how long
    /// one may take, waiting included.
    pub max_concurrent_validations: usize,
    pub validation_timeout_secs: u64,
    pub store: StoreConfig,
    /// The built web portal served at `/` (relative to the working directory).
    pub web_dir: std::path::PathBuf,
    /// The landing page's demo: a folder with demo.mp4, motion.glb and
    /// keypoints.json (`make serve` fills out/demo). Empty: no demo.
    pub demo_dir: std::path::PathBuf,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        let mut tiers = BTreeMap::new();
        tiers.insert(
            "free".into(),
            Tier {
                max_clip_s: 60.0,
                max_running: 1,
                priority: 0,
            },
        );
        tiers.insert(
            "pro".into(),
            Tier {
                max_clip_s: 600.0,
                max_running: 4,
                priority: 10,
            },
        );
        ServiceConfig {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/vidmocap.db".into(),
            public_base_url: String::new(),
            cookie_secure: false,
            trusted_proxies: Vec::new(),
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            credits_per_second: 1.0,
            min_job_credits: 5,
            quality_prices: QualityPrices::default(),
            resolve_credits: 1,
            default_tier: "free".into(),
            tiers,
            webhook_secret: String::new(),
            webhook_tolerance_secs: 300,
            billing: BillingConfig::default(),
            user_webhooks: UserWebhookConfig::default(),
            oidc: Default::default(),
            mail: MailConfig::default(),
            max_upload_bytes: 512 * 1024 * 1024,
            workers: 1,
            lease_secs: 30,
            max_attempts: 3,
            split: SplitConfig::default(),
            poll_ms: 500,
            notify_poll_ms: 10_000,
            upload_retention_days: 30,
            output_retention_days: None,
            max_retention_days: 365,
            no_retain_output_hours: 24,
            rate_per_ip_per_min: 600,
            rate_per_account_per_min: 600,
            login_failures_per_min: 10,
            max_concurrent_hashes: 4,
            max_concurrent_validations: 2,
            validation_timeout_secs: 300,
            store: StoreConfig::default(),
            web_dir: "web/dist".into(),
            demo_dir: std::path::PathBuf::new(),
        }
    }
}

impl fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The database URL may carry a password; the webhook secret is one.
        f.debug_struct("ServiceConfig")
            .field("bind", &self.bind)
            .field("database", &self.database_url.split('@').next_back())
            .field("public_base_url", &self.public_base_url)
            .field("tiers", &self.tiers)
            .field("workers", &self.workers)
            .field("store", &self.store)
            .field("billing", &self.billing)
            .field("oidc", &self.oidc)
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

impl ServiceConfig {
    /// Applies `VIDMOCAP_*` variables for the service.
    pub fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> Result<T, ConfigError> {
            value.trim().parse().map_err(|_| ConfigError::Env {
                name: name.to_string(),
                value,
            })
        }
        if let Some(v) = get("VIDMOCAP_BIND") {
            self.bind = v;
        }
        if let Some(v) = get("VIDMOCAP_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("VIDMOCAP_PUBLIC_BASE_URL") {
            self.public_base_url = v;
        }
        if let Some(v) = get("VIDMOCAP_WEBHOOK_SECRET") {
            self.webhook_secret = v;
        }
        if let Some(v) = get("VIDMOCAP_STRIPE_SECRET_KEY") {
            self.billing.stripe_secret_key = v;
        }
        if let Some(v) = get("VIDMOCAP_STRIPE_API_BASE") {
            self.billing.stripe_api_base = v;
        }
        self.oidc.apply_env(get);
        if let Some(v) = get("VIDMOCAP_ALLOW_PRIVATE_WEBHOOK_URLS") {
            self.user_webhooks.allow_private_urls =
                parse("VIDMOCAP_ALLOW_PRIVATE_WEBHOOK_URLS", v)?;
        }
        let mail_text = [
            ("VIDMOCAP_SMTP_HOST", &mut self.mail.smtp_host),
            ("VIDMOCAP_SMTP_USERNAME", &mut self.mail.smtp_username),
            ("VIDMOCAP_SMTP_PASSWORD", &mut self.mail.smtp_password),
            ("VIDMOCAP_MAIL_FROM", &mut self.mail.from),
        ];
        for (name, field) in mail_text {
            if let Some(v) = get(name) {
                *field = v;
            }
        }
        if let Some(v) = get("VIDMOCAP_MAIL_TRANSPORT") {
            self.mail.transport = match v.trim() {
                "off" => MailTransport::Off,
                "smtp" => MailTransport::Smtp,
                "log" => MailTransport::Log,
                _ => {
                    return Err(ConfigError::Env {
                        name: "VIDMOCAP_MAIL_TRANSPORT".into(),
                        value: v,
                    })
                }
            };
        }
        if let Some(v) = get("VIDMOCAP_SMTP_PORT") {
            self.mail.smtp_port = parse("VIDMOCAP_SMTP_PORT", v)?;
        }
        if let Some(v) = get("VIDMOCAP_WORKERS") {
            self.workers = parse("VIDMOCAP_WORKERS", v)?;
        }
        if let Some(v) = get("VIDMOCAP_LEASE_SECS") {
            self.lease_secs = parse("VIDMOCAP_LEASE_SECS", v)?;
        }
        if let Some(v) = get("VIDMOCAP_STORE_DIR") {
            self.store.local_dir = v.into();
        }
        if let Some(v) = get("VIDMOCAP_WEB_DIR") {
            self.web_dir = v.into();
        }
        if let Some(v) = get("VIDMOCAP_DEMO_DIR") {
            self.demo_dir = v.into();
        }
        if let Some(v) = get("VIDMOCAP_STORE_SIGNING_SECRET") {
            self.store.signing_secret = v;
        }
        // The fleet's store, set from the environment so that credentials
        // come from a secret rather than the shared configuration file.
        let store_text = [
            ("VIDMOCAP_STORE_KIND", &mut self.store.kind),
            ("VIDMOCAP_S3_ENDPOINT", &mut self.store.endpoint),
            ("VIDMOCAP_S3_BUCKET", &mut self.store.bucket),
            ("VIDMOCAP_S3_REGION", &mut self.store.region),
            ("VIDMOCAP_S3_ACCESS_KEY_ID", &mut self.store.access_key_id),
            (
                "VIDMOCAP_S3_SECRET_ACCESS_KEY",
                &mut self.store.secret_access_key,
            ),
        ];
        for (name, field) in store_text {
            if let Some(v) = get(name) {
                *field = v;
            }
        }
        if let Some(v) = get("VIDMOCAP_S3_PATH_STYLE") {
            self.store.path_style = parse("VIDMOCAP_S3_PATH_STYLE", v)?;
        }
        Ok(())
    }

    /// The tier's settings, falling back to the default tier for a name the
    /// configuration no longer has.
    pub fn tier(&self, name: &str) -> Tier {
        self.tiers
            .get(name)
            .or_else(|| self.tiers.get(&self.default_tier))
            .cloned()
            .unwrap_or(Tier {
                max_clip_s: 60.0,
                max_running: 1,
                priority: 0,
            })
    }

    /// Rejects settings the service cannot run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.tiers.contains_key(&self.default_tier) {
            return Err(ConfigError::Invalid(format!(
                "service.default_tier {:?} is not one of service.tiers",
                self.default_tier
            )));
        }
        self.billing.validate(&self.tiers)?;
        self.user_webhooks.validate()?;
        self.oidc.validate()?;
        self.mail.validate()?;
        if self.max_concurrent_hashes == 0 || self.max_concurrent_validations == 0 {
            return Err(ConfigError::Invalid(
                "service.max_concurrent_hashes and max_concurrent_validations must be at least 1"
                    .into(),
            ));
        }
        let q = self.quality_prices;
        if [q.fast, q.balanced, q.best]
            .iter()
            .any(|f| !f.is_finite() || *f < 0.0)
        {
            return Err(ConfigError::Invalid(
                "service.quality_prices must be finite and not negative".into(),
            ));
        }
        if self.resolve_credits < 0 || self.min_job_credits < 0 {
            return Err(ConfigError::Invalid(
                "service.resolve_credits and min_job_credits must not be negative".into(),
            ));
        }
        if self.upload_retention_days < 0
            || self.max_retention_days < 1
            || self.max_retention_days > MAX_RETENTION_DAYS
            || self.upload_retention_days > self.max_retention_days
            || self
                .output_retention_days
                .is_some_and(|d| d < 1 || d > self.max_retention_days)
        {
            return Err(ConfigError::Invalid(format!(
                "service.upload_retention_days must be 0 to max_retention_days, \
                 output_retention_days (when set) 1 to max_retention_days, and \
                 max_retention_days 1 to {MAX_RETENTION_DAYS}"
            )));
        }
        if !(1..=MAX_RETENTION_DAYS * 24).contains(&self.no_retain_output_hours) {
            return Err(ConfigError::Invalid(format!(
                "service.no_retain_output_hours must be 1 to {}",
                MAX_RETENTION_DAYS * 24
            )));
        }
        let split = &self.split;
        if !(split.segment_s > 0.0
            && split.overlap_s >= 0.0
            && split.overlap_s < split.segment_s
            && split.min_clip_s.is_finite())
        {
            return Err(ConfigError::Invalid(
                "service.split: segment_s must be positive, overlap_s 0 to below segment_s".into(),
            ));
        }
        if self.lease_secs < 2 || self.max_attempts < 1 || self.credits_per_second < 0.0 {
            return Err(ConfigError::Invalid(
                "service.lease_secs must be at least 2, max_attempts at least 1, credits_per_second not negative".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn billing() -> BillingConfig {
        BillingConfig {
            stripe_secret_key: "sk_test".into(),
            packs: vec![Pack {
                id: "small".into(),
                name: "Small".into(),
                price_id: "price_small".into(),
                credits: 100,
                amount_display: "€9".into(),
            }],
            plans: vec![Plan {
                id: "pro".into(),
                name: "Pro".into(),
                price_id: "price_pro".into(),
                monthly_credits: 500,
                tier: "pro".into(),
                amount_display: "€29".into(),
            }],
            ..BillingConfig::default()
        }
    }

    #[test]
    fn billing_offers_are_found_and_validated() {
        let mut cfg = ServiceConfig {
            billing: billing(),
            ..ServiceConfig::default()
        };
        assert!(cfg.validate().is_ok());
        assert!(matches!(cfg.billing.offer("small"), Some(Offer::Pack(_))));
        assert!(matches!(cfg.billing.offer("pro"), Some(Offer::Plan(_))));
        assert!(
            cfg.billing.offer("price_small").is_none(),
            "our ids, not Stripe's"
        );
        assert_eq!(cfg.billing.plan_by_price("price_pro").unwrap().id, "pro");
        assert!(cfg.billing.plan_by_price("price_small").is_none());
        assert_eq!(cfg.billing.api_base(), "https://api.stripe.com");
        // The key never reaches a log.
        assert!(!format!("{cfg:?}").contains("sk_test"));

        cfg.billing.plans[0].price_id = "price_small".into();
        assert!(cfg.validate().is_err(), "one price, two offers");
        cfg.billing = billing();
        cfg.billing.plans[0].tier = "gold".into();
        assert!(cfg.validate().is_err(), "a tier that does not exist");
        cfg.billing = billing();
        cfg.billing.packs[0].credits = -1;
        assert!(cfg.validate().is_err(), "negative credits");
    }

    #[test]
    fn mail_settings_are_validated_and_the_password_never_shown() {
        let mut cfg = ServiceConfig::default();
        assert!(!cfg.mail.enabled(), "no mail unless configured");
        assert_eq!(cfg.mail.reset_ttl_secs, 1800, "reset links last 30 minutes");
        cfg.mail.transport = MailTransport::Smtp;
        assert!(cfg.validate().is_err(), "smtp without a host");
        cfg.apply_env(&|name| match name {
            "VIDMOCAP_SMTP_HOST" => Some("smtp.example.com".into()),
            "VIDMOCAP_SMTP_USERNAME" => Some("mailer".into()),
            "VIDMOCAP_SMTP_PASSWORD" => Some("hunter2-secret".into()),
            "VIDMOCAP_SMTP_PORT" => Some("2525".into()),
            _ => None,
        })
        .unwrap();
        assert!(cfg.validate().is_ok());
        assert_eq!(cfg.mail.port(), 2525);
        assert!(!format!("{cfg:?}").contains("hunter2"));
        cfg.mail.from = "not an address".into();
        assert!(cfg.validate().is_err(), "a sender that is no address");
        cfg.mail.from = "vidmocap <mail@example.com>".into();
        cfg.mail.smtp_password.clear();
        assert!(cfg.validate().is_err(), "a user name without a password");
        let bad = cfg
            .apply_env(&|name| (name == "VIDMOCAP_MAIL_TRANSPORT").then(|| "pigeon".to_string()));
        assert!(bad.is_err(), "an unknown transport");
    }
}
