//! The channel kinds, each a [`Notifier`] for one configured instance, and [`Channels`], which
//! dispatches on [`OutboundMessage::channel`].

pub(crate) mod email;
pub(crate) mod generic;
pub(crate) mod robots;
pub(crate) mod telegram;

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::Instrument as _;

use yuqing_core::notify::{Notifier, NotifyError, OutboundMessage, Receipt};

use crate::config::{self, ChannelConfig, ChannelKind, ConfigError};

enum Channel {
    Wecom(robots::WecomChannel),
    Dingtalk(robots::DingtalkChannel),
    Feishu(robots::FeishuChannel),
    Sms(generic::SmsChannel),
    Email(email::EmailChannel),
    Webhook(generic::WebhookChannel),
    Telegram(telegram::TelegramChannel),
}

impl Channel {
    fn build(name: &str, cfg: &ChannelConfig) -> Result<Channel, ConfigError> {
        let (n, t) = (cfg.per_minute(), cfg.timeout());
        Ok(match cfg {
            ChannelConfig::Wecom(c) => Channel::Wecom(robots::WecomChannel::new(name, c, n, t)?),
            ChannelConfig::Dingtalk(c) => Channel::Dingtalk(robots::DingtalkChannel::new(name, c, n, t)?),
            ChannelConfig::Feishu(c) => Channel::Feishu(robots::FeishuChannel::new(name, c, n, t)?),
            ChannelConfig::Sms(c) => Channel::Sms(generic::SmsChannel::new(name, c, n, t)?),
            ChannelConfig::Email(c) => Channel::Email(email::EmailChannel::new(name, c, n, t)?),
            ChannelConfig::Webhook(c) => Channel::Webhook(generic::WebhookChannel::new(name, c, n, t)?),
            ChannelConfig::Telegram(c) => Channel::Telegram(telegram::TelegramChannel::new(name, c, n, t)?),
        })
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        match self {
            Channel::Wecom(c) => c.send(msg).await,
            Channel::Dingtalk(c) => c.send(msg).await,
            Channel::Feishu(c) => c.send(msg).await,
            Channel::Sms(c) => c.send(msg).await,
            Channel::Email(c) => c.send(msg).await,
            Channel::Webhook(c) => c.send(msg).await,
            Channel::Telegram(c) => c.send(msg).await,
        }
    }
}

/// Every configured channel instance, by name: clients and limiters are built once here and live
/// as long as this value. Implements [`Notifier`] by dispatching on [`OutboundMessage::channel`].
pub struct Channels {
    channels: BTreeMap<String, (ChannelKind, Channel)>,
    configs: BTreeMap<String, ChannelConfig>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.channels.iter().map(|(n, (k, _))| (n, k.as_str()))).finish()
    }
}

impl Channels {
    /// Validates every channel (no IO) and builds its client and limiter. E-mail transports are
    /// built on their first send (lettre's pool needs the tokio runtime), so this may run outside
    /// one.
    pub fn from_config(map: BTreeMap<String, ChannelConfig>) -> Result<Channels, ConfigError> {
        let mut channels = BTreeMap::new();
        for (name, cfg) in &map {
            config::check_name(name)?;
            cfg.validate().map_err(|r| ConfigError::invalid(name, r))?;
            channels.insert(name.clone(), (cfg.kind(), Channel::build(name, cfg)?));
        }
        Ok(Channels { channels, configs: map })
    }

    /// [`config::parse_toml`] then [`Channels::from_config`].
    pub fn parse_toml(text: &str) -> Result<Channels, ConfigError> {
        Channels::from_config(config::parse_toml(text)?)
    }

    /// The configured names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.channels.keys().map(String::as_str)
    }

    pub fn kind(&self, name: &str) -> Option<ChannelKind> {
        self.channels.get(name).map(|(k, _)| *k)
    }

    pub fn config(&self, name: &str) -> Option<&ChannelConfig> {
        self.configs.get(name)
    }

    /// The inbound side of the Telegram channel `name` (a second bot client with a long-poll
    /// timeout); `None` when there is no such Telegram channel.
    pub fn telegram_inbox(
        &self,
        name: &str,
        poll_timeout: Duration,
    ) -> Option<Result<telegram::TelegramInbox, ConfigError>> {
        match self.configs.get(name)? {
            ChannelConfig::Telegram(c) => Some(telegram::TelegramInbox::new(name, c, poll_timeout)),
            _ => None,
        }
    }
}

impl Notifier for Channels {
    /// Unknown channel, or no `to` where the kind needs one: `Rejected`. Otherwise the channel's
    /// own answer.
    async fn send(&self, msg: &OutboundMessage) -> Result<Receipt, NotifyError> {
        let Some((kind, channel)) = self.channels.get(&msg.channel) else {
            return Err(NotifyError::Rejected(format!("unknown channel `{}`", msg.channel)));
        };
        if kind.needs_address() && msg.to.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(NotifyError::Rejected(format!(
                "channel `{}` ({}) needs an address in `to`",
                msg.channel,
                kind.as_str()
            )));
        }
        let span = tracing::debug_span!("notify", channel = %msg.channel, kind = kind.as_str());
        let result = channel.send(msg).instrument(span).await;
        match &result {
            Ok(r) => tracing::debug!(channel = %msg.channel, remote_id = ?r.remote_id, "notification sent"),
            Err(e) => tracing::info!(channel = %msg.channel, error = %e, "notification not sent"),
        }
        result
    }
}
