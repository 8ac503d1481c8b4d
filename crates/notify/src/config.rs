//! Channel configuration: one named instance per `[channels.NAME]` table, its `type` selecting the
//! kind. Parsing and [`ChannelConfig::validate`] do no IO; building the clients is
//! [`crate::Channels::from_config`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// The default request timeout of every channel.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request timeout a channel may configure.
const MAX_TIMEOUT_SECS: f64 = 300.0;

/// A credential: deserialised from a plain string, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a channel configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML or not `[channels.NAME]` tables.
    #[error("channels file: {0}")]
    Syntax(String),
    /// One channel's table is wrong; `channel` names it.
    #[error("channel `{channel}`: {reason}")]
    Invalid { channel: String, reason: String },
}

impl ConfigError {
    pub(crate) fn invalid(channel: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid { channel: channel.to_owned(), reason: reason.into() }
    }
}

/// One channel instance. The `type` field selects the kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// 企业微信 / 政务微信 group robot.
    Wecom(WecomConfig),
    /// 钉钉 group robot.
    Dingtalk(DingtalkConfig),
    /// 飞书 custom bot.
    Feishu(FeishuConfig),
    /// A generic HTTP SMS gateway.
    Sms(SmsConfig),
    /// SMTP.
    Email(EmailConfig),
    /// A generic signed JSON webhook.
    Webhook(WebhookConfig),
    /// A Telegram bot.
    Telegram(TelegramConfig),
}

/// The kinds, for callers that need to know whether a channel takes an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Wecom,
    Dingtalk,
    Feishu,
    Sms,
    Email,
    Webhook,
    Telegram,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Wecom => "wecom",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Sms => "sms",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Telegram => "telegram",
        }
    }

    /// Whether a message must carry `to` (phone, e-mail address, chat id). Robot webhooks post to
    /// their group; the generic webhook passes `to` along when there is one.
    pub fn needs_address(self) -> bool {
        matches!(self, ChannelKind::Sms | ChannelKind::Email | ChannelKind::Telegram)
    }
}

/// `type = "wecom"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WecomConfig {
    /// The robot's `key` (the query parameter of its webhook address).
    pub key: Secret,
    /// Default `https://qyapi.weixin.qq.com`; a 政务微信 deployment has its own host.
    pub base_url: Option<String>,
    /// Default 20 (the robot's limit is 20 messages a minute).
    pub per_minute: Option<u32>,
    /// Default 10.
    pub timeout_secs: Option<f64>,
}

/// `type = "dingtalk"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DingtalkConfig {
    pub access_token: Secret,
    /// The 加签 secret (`SEC…`), when the robot's security setting is signing.
    pub secret: Option<Secret>,
    /// Default `https://oapi.dingtalk.com`.
    pub base_url: Option<String>,
    /// Default 20.
    pub per_minute: Option<u32>,
    pub timeout_secs: Option<f64>,
}

/// `type = "feishu"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeishuConfig {
    /// The last path segment of the bot's webhook address.
    pub hook_id: Secret,
    /// The signature-verification secret, when set on the bot.
    pub secret: Option<Secret>,
    /// Default `https://open.feishu.cn` (Lark: `https://open.larksuite.com`).
    pub base_url: Option<String>,
    /// Default 100 (Feishu allows 100 a minute and 5 a second).
    pub per_minute: Option<u32>,
    pub timeout_secs: Option<f64>,
}

/// `type = "sms"`: a generic HTTP gateway in front of the carrier's template SMS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The gateway's send endpoint.
    pub url: String,
    /// Sent as `Authorization: Bearer …`.
    pub api_key: Secret,
    /// The template registered with the carrier.
    pub template_id: String,
    /// The registered signature (签名), sent as `sign_name` and counted in the length.
    pub sign_name: Option<String>,
    /// A copy of the registered template's text, with `{level}`, `{title}` and `{department}`
    /// placeholders, used only to count segments. Default [`crate::render::DEFAULT_SMS_TEMPLATE`].
    pub template: Option<String>,
    /// The most segments one message may take (default 2); the title is shortened to fit.
    pub max_segments: Option<u32>,
    /// Default 30.
    pub per_minute: Option<u32>,
    pub timeout_secs: Option<f64>,
}

/// `tls` of an e-mail channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain SMTP (a relay on the same host or a trusted network); default port 25.
    None,
    /// STARTTLS required; default port 587.
    Starttls,
    /// Implicit TLS (SMTPS); default port 465.
    Tls,
}

/// `type = "email"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub host: String,
    /// Default by `tls`: 25, 587 or 465.
    pub port: Option<u16>,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `舆情监测 <yuqing@example.gov.cn>` or a bare address.
    pub from: String,
    /// Default 60.
    pub per_minute: Option<u32>,
    pub timeout_secs: Option<f64>,
}

/// `type = "webhook"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// When set, every request carries `X-Yuqing-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
    pub secret: Option<Secret>,
    /// Default 60.
    pub per_minute: Option<u32>,
    pub timeout_secs: Option<f64>,
}

/// `type = "telegram"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    pub token: Secret,
    /// Default `https://api.telegram.org` (a local Bot API server, or a test's fake).
    pub base_url: Option<String>,
    /// Default 60 (Telegram itself limits 1 a second per chat and 20 a minute per group).
    pub per_minute: Option<u32>,
    pub timeout_secs: Option<f64>,
}

/// The longest `level` parameter an SMS can carry (a notice label, used when there is no level).
const LONGEST_LEVEL: &str = "逾期未签收·升级报告";

pub(crate) const WECOM_BASE: &str = "https://qyapi.weixin.qq.com";
pub(crate) const DINGTALK_BASE: &str = "https://oapi.dingtalk.com";
pub(crate) const FEISHU_BASE: &str = "https://open.feishu.cn";
pub(crate) const TELEGRAM_BASE: &str = "https://api.telegram.org";

impl ChannelConfig {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelConfig::Wecom(_) => ChannelKind::Wecom,
            ChannelConfig::Dingtalk(_) => ChannelKind::Dingtalk,
            ChannelConfig::Feishu(_) => ChannelKind::Feishu,
            ChannelConfig::Sms(_) => ChannelKind::Sms,
            ChannelConfig::Email(_) => ChannelKind::Email,
            ChannelConfig::Webhook(_) => ChannelKind::Webhook,
            ChannelConfig::Telegram(_) => ChannelKind::Telegram,
        }
    }

    /// The messages a minute this instance may send (its configured or default `per_minute`).
    pub fn per_minute(&self) -> u32 {
        match self {
            ChannelConfig::Wecom(c) => c.per_minute.unwrap_or(20),
            ChannelConfig::Dingtalk(c) => c.per_minute.unwrap_or(20),
            ChannelConfig::Feishu(c) => c.per_minute.unwrap_or(100),
            ChannelConfig::Sms(c) => c.per_minute.unwrap_or(30),
            ChannelConfig::Email(c) => c.per_minute.unwrap_or(60),
            ChannelConfig::Webhook(c) => c.per_minute.unwrap_or(60),
            ChannelConfig::Telegram(c) => c.per_minute.unwrap_or(60),
        }
    }

    fn timeout_secs(&self) -> Option<f64> {
        match self {
            ChannelConfig::Wecom(c) => c.timeout_secs,
            ChannelConfig::Dingtalk(c) => c.timeout_secs,
            ChannelConfig::Feishu(c) => c.timeout_secs,
            ChannelConfig::Sms(c) => c.timeout_secs,
            ChannelConfig::Email(c) => c.timeout_secs,
            ChannelConfig::Webhook(c) => c.timeout_secs,
            ChannelConfig::Telegram(c) => c.timeout_secs,
        }
    }

    /// The request timeout (configured or [`DEFAULT_TIMEOUT`]); valid after [`Self::validate`].
    pub fn timeout(&self) -> Duration {
        self.timeout_secs()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_TIMEOUT_SECS)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Checks everything that can be checked without IO: URLs parse (http or https), credentials
    /// and secrets are non-empty, numbers are in range, addresses parse.
    pub fn validate(&self) -> Result<(), String> {
        if self.per_minute() == 0 {
            return Err("per_minute must be at least 1".into());
        }
        if let Some(t) = self.timeout_secs()
            && !(t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_SECS)
        {
            return Err(format!("timeout_secs must be more than 0 and at most {MAX_TIMEOUT_SECS}"));
        }
        match self {
            ChannelConfig::Wecom(c) => {
                non_empty("key", &c.key)?;
                http_url("base_url", c.base_url.as_deref().unwrap_or(WECOM_BASE))?;
            }
            ChannelConfig::Dingtalk(c) => {
                non_empty("access_token", &c.access_token)?;
                optional_secret("secret", c.secret.as_ref())?;
                http_url("base_url", c.base_url.as_deref().unwrap_or(DINGTALK_BASE))?;
            }
            ChannelConfig::Feishu(c) => {
                non_empty("hook_id", &c.hook_id)?;
                optional_secret("secret", c.secret.as_ref())?;
                http_url("base_url", c.base_url.as_deref().unwrap_or(FEISHU_BASE))?;
            }
            ChannelConfig::Sms(c) => {
                http_url("url", &c.url)?;
                non_empty("api_key", &c.api_key)?;
                if c.api_key.expose().chars().any(|ch| ch.is_control()) {
                    return Err("api_key contains a control character".into());
                }
                if c.template_id.trim().is_empty() {
                    return Err("template_id is empty".into());
                }
                if c.sign_name.as_deref().is_some_and(|s| s.trim().is_empty()) {
                    return Err("sign_name is empty (leave it out instead)".into());
                }
                let max = c.max_segments.unwrap_or(2);
                if max == 0 {
                    return Err("max_segments must be at least 1".into());
                }
                let template = c.template.as_deref().unwrap_or(crate::render::DEFAULT_SMS_TEMPLATE);
                let empty =
                    crate::render::sms_text(template, c.sign_name.as_deref(), LONGEST_LEVEL, "…", "…");
                let n = crate::render::sms_segments(&empty);
                if n > max as usize {
                    return Err(format!(
                        "the template alone takes {n} segments, more than max_segments = {max}"
                    ));
                }
            }
            ChannelConfig::Email(c) => {
                if c.host.trim().is_empty() || c.host.contains(char::is_whitespace) {
                    return Err("host is empty or contains spaces".into());
                }
                if c.port == Some(0) {
                    return Err("port 0".into());
                }
                c.from
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|e| format!("from `{}` is not an address: {e}", c.from))?;
                match (&c.username, &c.password) {
                    (Some(u), Some(p)) => {
                        if u.is_empty() {
                            return Err("username is empty".into());
                        }
                        non_empty("password", p)?;
                    }
                    (None, None) => {}
                    _ => return Err("username and password go together".into()),
                }
            }
            ChannelConfig::Webhook(c) => {
                http_url("url", &c.url)?;
                optional_secret("secret", c.secret.as_ref())?;
            }
            ChannelConfig::Telegram(c) => {
                non_empty("token", &c.token)?;
                if c.token.expose().contains(['/', '?', '#', ' ']) {
                    return Err("token contains `/`, `?`, `#` or a space".into());
                }
                http_url("base_url", c.base_url.as_deref().unwrap_or(TELEGRAM_BASE))?;
            }
        }
        Ok(())
    }
}

fn non_empty(field: &str, s: &Secret) -> Result<(), String> {
    if s.expose().trim().is_empty() { Err(format!("{field} is empty")) } else { Ok(()) }
}

fn optional_secret(field: &str, s: Option<&Secret>) -> Result<(), String> {
    match s {
        Some(s) => non_empty(field, s),
        None => Ok(()),
    }
}

/// Parses an http(s) URL that can take path segments.
pub(crate) fn http_url(field: &str, s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("{field} `{s}` is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.cannot_be_a_base() || u.host().is_none() {
        return Err(format!("{field} `{s}` is not an http(s) URL"));
    }
    Ok(u)
}

/// Checks a channel's name: non-empty, at most 64 characters, no whitespace or control characters.
pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::invalid(name, "a channel name is 1-64 characters without spaces"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    channels: BTreeMap<String, toml::Value>,
}

/// Parses a channels file (`[channels.NAME]` tables) and validates every channel. Errors name the
/// channel; nothing is built and no IO is done.
pub fn parse_toml(text: &str) -> Result<BTreeMap<String, ChannelConfig>, ConfigError> {
    let file: File =
        toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string().trim().to_owned()))?;
    let mut out = BTreeMap::new();
    for (name, value) in file.channels {
        check_name(&name)?;
        let cfg = ChannelConfig::deserialize(value)
            .map_err(|e| ConfigError::invalid(&name, e.to_string().trim().to_owned()))?;
        cfg.validate().map_err(|r| ConfigError::invalid(&name, r))?;
        out.insert(name, cfg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let text = r#"
[channels.wecom-zjj]
type = "wecom"
key = "k"

[channels.dd]
type = "dingtalk"
access_token = "t"
secret = "SECabc"
per_minute = 10

[channels.fs]
type = "feishu"
hook_id = "h"
base_url = "http://127.0.0.1:9"

[channels.sms]
type = "sms"
url = "https://sms.example.invalid/send"
api_key = "a"
template_id = "SMS_1"
sign_name = "某县政府"

[channels.mail]
type = "email"
host = "smtp.example.invalid"
tls = "starttls"
username = "u"
password = "p"
from = "舆情监测 <yq@example.invalid>"

[channels.hook]
type = "webhook"
url = "https://example.invalid/hook"
secret = "s"
timeout_secs = 3.5

[channels.tg]
type = "telegram"
token = "123:abc"
"#;
        let m = parse_toml(text).expect("valid");
        assert_eq!(m.len(), 7);
        assert_eq!(m["wecom-zjj"].kind(), ChannelKind::Wecom);
        assert_eq!(m["wecom-zjj"].per_minute(), 20);
        assert_eq!(m["dd"].per_minute(), 10);
        assert_eq!(m["fs"].per_minute(), 100);
        assert_eq!(m["hook"].timeout(), Duration::from_secs_f64(3.5));
        assert_eq!(m["tg"].timeout(), DEFAULT_TIMEOUT);
        assert!(matches!(&m["mail"], ChannelConfig::Email(e) if e.tls == TlsMode::Starttls));
    }

    fn err(text: &str) -> String {
        parse_toml(text).expect_err("invalid").to_string()
    }

    #[test]
    fn errors_name_the_channel() {
        let e = err("[channels.a]\ntype = \"wecom\"\nkey = \"k\"\nkye = \"x\"\n");
        assert!(e.starts_with("channel `a`: unknown field `kye`"), "{e}");
        let e = err("[channels.b]\ntype = \"pager\"\n");
        assert!(e.starts_with("channel `b`: unknown variant `pager`"), "{e}");
        let e = err("[channels.c]\ntype = \"dingtalk\"\naccess_token = \"t\"\nsecret = \"\"\n");
        assert_eq!(e, "channel `c`: secret is empty");
        let e = err("[channels.d]\ntype = \"webhook\"\nurl = \"ftp://x/y\"\n");
        assert_eq!(e, "channel `d`: url `ftp://x/y` is not an http(s) URL");
        let e = err("[channels.e]\ntype = \"email\"\nhost = \"h\"\ntls = \"ssl\"\nfrom = \"a@b.c\"\n");
        assert!(
            e.starts_with("channel `e`: unknown variant `ssl`, expected one of `none`, `starttls`, `tls`"),
            "{e}"
        );
        let e =
            err("[channels.f]\ntype = \"email\"\nhost = \"h\"\ntls = \"tls\"\nfrom = \"not an address\"\n");
        assert!(e.starts_with("channel `f`: from `not an address` is not an address"), "{e}");
        let e = err("[channels.g]\ntype = \"wecom\"\nkey = \"k\"\nper_minute = 0\n");
        assert_eq!(e, "channel `g`: per_minute must be at least 1");
        let e = err("[channels.h]\ntype = \"telegram\"\ntoken = \"t\"\nbase_url = \"not a url\"\n");
        assert!(e.starts_with("channel `h`: base_url `not a url` is not a URL"), "{e}");
        let e = err(
            "[channels.i]\ntype = \"email\"\nhost = \"h\"\ntls = \"none\"\nfrom = \"a@b.c\"\nusername = \"u\"\n",
        );
        assert_eq!(e, "channel `i`: username and password go together");
        let e = err("[channels.j]\ntype = \"webhook\"\nurl = \"https://x/y\"\ntimeout_secs = 0\n");
        assert!(e.starts_with("channel `j`: timeout_secs must be more than 0"), "{e}");
        let e = err(
            "[channels.k]\ntype = \"sms\"\nurl = \"https://x/y\"\napi_key = \"a\"\ntemplate_id = \"t\"\nmax_segments = 1\ntemplate = \"这是一个非常长的模板这是一个非常长的模板这是一个非常长的模板这是一个非常长的模板这是一个非常长的模板这是一个非常长的模板这是一个非常长的模板{title}\"\n",
        );
        assert!(e.starts_with("channel `k`: the template alone takes 2 segments"), "{e}");
        let e = err("[channels.l]\ntype = \"wecom\"\n");
        assert!(e.starts_with("channel `l`: missing field `key`"), "{e}");
    }

    #[test]
    fn syntax_errors_and_unknown_top_level_tables() {
        assert!(matches!(parse_toml("[channels.a"), Err(ConfigError::Syntax(_))));
        assert!(matches!(parse_toml("[channel.a]\ntype = \"wecom\"\n"), Err(ConfigError::Syntax(_))));
        assert!(parse_toml("").expect("empty is fine").is_empty());
    }

    #[test]
    fn secrets_are_not_printed() {
        let m = parse_toml("[channels.a]\ntype = \"wecom\"\nkey = \"topsecret\"\n").expect("valid");
        assert!(!format!("{m:?}").contains("topsecret"));
    }
}
