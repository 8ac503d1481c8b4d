//! E-mail over SMTP (lettre): multipart/alternative with a plain-text and an HTML part, and a
//! `Message-ID` derived from the idempotency key so receivers and archives can drop a repeat.

use lettre::message::{Mailbox, Mailboxes, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use yuqing_core::notify::{Notifier, NotifyError, OutboundMessage, Receipt};

use crate::config::{ConfigError, EmailConfig, TlsMode};
use crate::limit::Limiter;
use crate::render;

/// `<KEY@yuqing>`: the idempotency key with every byte outside `[A-Za-z0-9_-]` written `=XX`, so the
/// id is a valid `dot-atom` and distinct keys give distinct ids.
pub fn message_id(idempotency_key: &str) -> String {
    let mut s = String::with_capacity(idempotency_key.len() + 10);
    s.push('<');
    for b in idempotency_key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("={b:02X}"));
        }
    }
    s.push_str("@yuqing>");
    s
}

pub(crate) struct EmailChannel {
    builder: AsyncSmtpTransportBuilder,
    /// Built on the first send: lettre's pooled transport spawns a task, so it needs the runtime.
    transport: tokio::sync::OnceCell<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    limiter: Limiter,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl EmailChannel {
    pub(crate) fn new(
        name: &str,
        cfg: &EmailConfig,
        per_minute: u32,
        timeout: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        let invalid = |r: String| ConfigError::invalid(name, r);
        let from: Mailbox = cfg.from.parse().map_err(|e| invalid(format!("from: {e}")))?;
        let host = cfg.host.trim();
        let tls_params = || TlsParameters::new(host.to_owned()).map_err(|e| invalid(format!("tls: {e}")));
        let (tls, default_port) = match cfg.tls {
            TlsMode::None => (Tls::None, 25),
            TlsMode::Starttls => (Tls::Required(tls_params()?), 587),
            TlsMode::Tls => (Tls::Wrapper(tls_params()?), 465),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(cfg.port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(4));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.expose().to_owned()));
        }
        Ok(EmailChannel {
            builder,
            transport: tokio::sync::OnceCell::new(),
            from,
            limiter: Limiter::per_minute(per_minute),
        })
    }

    pub(crate) fn message(&self, msg: &OutboundMessage, to: &str) -> Result<Message, NotifyError> {
        let rcpts: Mailboxes =
            to.parse().map_err(|e| NotifyError::Rejected(format!("`{to}` is not an e-mail address: {e}")))?;
        let mut b = Message::builder()
            .from(self.from.clone())
            .message_id(Some(message_id(&msg.idempotency_key)))
            .date_now();
        let mut any = false;
        for m in rcpts {
            b = b.to(m);
            any = true;
        }
        if !any {
            return Err(NotifyError::Rejected("no e-mail address in `to`".into()));
        }
        let e = render::email(msg);
        b.subject(e.subject)
            .multipart(MultiPart::alternative_plain_html(e.text, e.html))
            .map_err(|e| NotifyError::Rejected(format!("cannot build the message: {e}")))
    }
}

/// 4xx replies, connection, network and TLS failures, timeouts: retryable. 5xx replies and client
/// errors (no STARTTLS, no usable AUTH mechanism: configuration) are rejected.
fn classify(e: &lettre::transport::smtp::Error) -> NotifyError {
    let mut reason = format!("smtp: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(&format!(": {s}"));
        source = s.source();
    }
    if e.is_permanent() || e.is_client() {
        NotifyError::Rejected(reason)
    } else {
        NotifyError::Retryable { reason, retry_after: None }
    }
}

impl Notifier for EmailChannel {
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        let to = msg.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let to = to.ok_or_else(|| NotifyError::Rejected("email needs an address in `to`".into()))?;
        let message = self.message(msg, to)?;
        self.limiter.acquire().await?;
        let transport = self.transport.get_or_init(|| async { self.builder.clone().build() }).await;
        match transport.send(message).await {
            Ok(_) => Ok(Receipt { remote_id: Some(message_id(&msg.idempotency_key)) }),
            Err(e) => Err(classify(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_valid_and_distinct() {
        assert_eq!(message_id("alert-12_wecom"), "<alert-12_wecom@yuqing>");
        assert_eq!(message_id("a:1.b"), "<a=3A1=2Eb@yuqing>");
        assert_ne!(message_id("a:1"), message_id("a=3A1"));
        assert_eq!(message_id("中"), "<=E4=B8=AD@yuqing>");
    }
}
