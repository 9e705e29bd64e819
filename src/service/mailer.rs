//! Sending mail: SMTP through `lettre` (STARTTLS, TLS or plain, with a
//! connection pool), the log (for a local operator), or nothing, as
//! `[service.mail]` says.
//!
//! Mail is sent in the background ([`Mailer::send_later`]): a request that
//! triggers it (a reset, a job's end) does not wait for the SMTP server,
//! and a slow or missing server costs the user nothing but the mail, with
//! the failure in the log. Messages are plain text.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{MailConfig, MailTransport, SmtpTls};
use super::error::ApiError;

/// One message: what it is (for the log), its subject and its text.
#[derive(Clone, Debug)]
pub struct Mail {
    pub kind: &'static str,
    pub subject: String,
    pub text: String,
}

enum Transport {
    Off,
    Log,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// The service's way of sending mail, built once at start.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    link_base: String,
}

impl Mailer {
    /// From the settings; `public_base_url` is the server's own URL, where
    /// links point when `link_base_url` is empty. Settings were validated
    /// at load; one that still cannot be used is an error here.
    pub fn new(cfg: &MailConfig, public_base_url: &str) -> Result<Mailer, String> {
        let from = cfg
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("service.mail.from: {e}"))?;
        let transport = match cfg.transport {
            MailTransport::Off => Transport::Off,
            MailTransport::Log => Transport::Log,
            MailTransport::Smtp => Transport::Smtp(smtp(cfg)?),
        };
        let base = if cfg.link_base_url.is_empty() {
            public_base_url
        } else {
            &cfg.link_base_url
        };
        if cfg.enabled() && base.is_empty() {
            tracing::warn!(
                "service.public_base_url and service.mail.link_base_url are empty: \
                 links in mail will not say where the portal is"
            );
        }
        let local = ["localhost", "127.0.0.1", "::1"].contains(&cfg.smtp_host.as_str());
        if cfg.transport == MailTransport::Smtp
            && cfg.tls == SmtpTls::None
            && !cfg.smtp_username.is_empty()
            && !local
        {
            tracing::warn!(
                host = %cfg.smtp_host,
                "SMTP credentials go unencrypted (service.mail.tls = \"none\")"
            );
        }
        Ok(Mailer {
            transport,
            from,
            link_base: base.trim_end_matches('/').to_string(),
        })
    }

    pub fn enabled(&self) -> bool {
        !matches!(self.transport, Transport::Off)
    }

    /// `mail.disabled` unless mail can be sent.
    pub fn require(&self, what: &str) -> Result<(), ApiError> {
        if self.enabled() {
            Ok(())
        } else {
            // 503: the feature exists, but this server was not given the
            // mail server it depends on.
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "mail.disabled",
                format!(
                    "this server does not send email, so {what} is not available; ask its operator"
                ),
            ))
        }
    }

    /// The portal's page `route` (a hash route such as `job/ID` or
    /// `reset?token=...`) as a full link. Tokens ride in the fragment,
    /// which browsers never send to a server or in a Referer, and the page
    /// posts them: a mail scanner that fetches the link spends nothing.
    pub fn link(&self, route: &str) -> String {
        format!("{}/#/{route}", self.link_base)
    }

    /// Sends `mail` to `to` now.
    pub async fn send(&self, to: &str, mail: &Mail) -> Result<(), String> {
        let smtp = match &self.transport {
            Transport::Off => return Ok(()),
            Transport::Log => {
                tracing::info!(
                    kind = mail.kind,
                    to,
                    subject = %mail.subject,
                    text = %mail.text,
                    "mail written to the log (service.mail.transport = \"log\"; not sent)"
                );
                return Ok(());
            }
            Transport::Smtp(smtp) => smtp,
        };
        let to: Mailbox = to.parse().map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| format!("building the message: {e}"))?;
        smtp.send(message).await.map_err(|e| e.to_string())?;
        tracing::info!(kind = mail.kind, "mail sent");
        Ok(())
    }

    /// Sends in the background; a failure is logged (without the
    /// message, whose links are secrets).
    pub fn send_later(self: &Arc<Self>, to: String, mail: Mail) {
        if !self.enabled() {
            return;
        }
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&to, &mail).await {
                tracing::error!(kind = mail.kind, error = %e, "sending mail failed");
            }
        });
    }
}

fn smtp(cfg: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = |host: &str| TlsParameters::new(host.into()).map_err(|e| format!("TLS: {e}"));
    let host = cfg.smtp_host.as_str();
    let tls = match cfg.tls {
        SmtpTls::Starttls => Tls::Required(tls(host)?),
        SmtpTls::Tls => Tls::Wrapper(tls(host)?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(cfg.port())
        .tls(tls)
        .timeout(Some(Duration::from_secs(cfg.timeout_secs)));
    if !cfg.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            cfg.smtp_username.clone(),
            cfg.smtp_password.clone(),
        ));
    }
    Ok(builder.build())
}
