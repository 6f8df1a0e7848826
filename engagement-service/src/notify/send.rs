//! Sending one delivery in its channel's format: `standard` (Standard
//! Webhooks, signed), `slack` (a sentence a person reads) or `discourse`
//! (a badge granted on the forum). Requests never follow redirects, time
//! out after 15 s and never reach a loopback or private address unless
//! the channel allows it (`allow_private`): a rule file cannot turn the
//! service into a way into the network it runs in.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use data_encoding::BASE64;
use engagement_core::notify::{Channel, Format, Notification, What};
use engagement_core::{MemberId, RuleSet};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Value, json};
use sha2::Sha256;

/// Longest a request to a channel may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A channel's credential, read from the environment at start.
#[derive(Clone)]
enum Secret {
    /// The decoded bytes of a `whsec_` secret.
    Signing(Vec<u8>),
    /// A Discourse API key.
    ApiKey(String),
    None,
}

/// What went wrong with an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// 410 Gone: the channel is disabled.
    pub gone: bool,
    /// Trying again cannot help (no linked account, a refused address).
    pub permanent: bool,
}

impl Failure {
    fn retry(message: String) -> Failure {
        Failure {
            message,
            retry_after: None,
            gone: false,
            permanent: false,
        }
    }

    fn permanent(message: String) -> Failure {
        Failure {
            permanent: true,
            ..Failure::retry(message)
        }
    }
}

/// The channels of the rules in force, with their credentials, and the
/// HTTP clients that reach them.
#[derive(Clone)]
pub struct Sender {
    channels: Arc<HashMap<String, (Channel, Secret)>>,
    guarded: reqwest::Client,
    open: reqwest::Client,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.channels.keys().collect();
        ids.sort();
        f.debug_struct("Sender").field("channels", &ids).finish()
    }
}

impl Sender {
    /// Reads each channel's credential from the environment (`env`):
    /// a missing or malformed one is an error naming the variable.
    pub fn new(rules: &RuleSet, env: impl Fn(&str) -> Option<String>) -> Result<Sender, String> {
        let mut channels = HashMap::new();
        for channel in &rules.notify {
            let secret =
                match (channel.format, &channel.secret_env, &channel.api_key_env) {
                    (Format::Standard, Some(var), _) => {
                        let value = env(var).ok_or_else(|| {
                            format!(
                                "notify channel \"{}\": {var} is not set (its whsec_ secret)",
                                channel.id
                            )
                        })?;
                        Secret::Signing(signing_key(&value).map_err(|e| {
                            format!("notify channel \"{}\": {var}: {e}", channel.id)
                        })?)
                    }
                    (Format::Discourse, _, Some(var)) => {
                        let value = env(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                            format!(
                                "notify channel \"{}\": {var} is not set (the Discourse API key)",
                                channel.id
                            )
                        })?;
                        Secret::ApiKey(value.trim().to_owned())
                    }
                    _ => Secret::None,
                };
            channels.insert(channel.id.clone(), (channel.clone(), secret));
        }
        let client = |guarded: bool| {
            let builder = crate::http_client()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .user_agent(concat!("engagement/", env!("CARGO_PKG_VERSION")))
                .no_proxy();
            let builder = if guarded {
                builder.dns_resolver(Arc::new(PublicOnly))
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| format!("cannot build the notification client: {e}"))
        };
        Ok(Sender {
            channels: Arc::new(channels),
            guarded: client(true)?,
            open: client(false)?,
        })
    }

    /// [`Sender::new`] with the process environment.
    pub fn from_env(rules: &RuleSet) -> Result<Sender, String> {
        Sender::new(rules, |var| std::env::var(var).ok())
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.get(id).map(|(c, _)| c)
    }

    /// Sends `n` once. `discourse_user` is the member's forum username,
    /// for a `discourse` channel.
    pub async fn send(
        &self,
        n: &Notification,
        discourse_user: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<(), Failure> {
        let Some((channel, secret)) = self.channels.get(&n.channel) else {
            return Err(Failure::permanent(format!(
                "channel \"{}\" is no longer in the rules",
                n.channel
            )));
        };
        let url = reqwest::Url::parse(&channel.url)
            .map_err(|e| Failure::permanent(format!("{}: {e}", channel.url)))?;
        let client = if channel.allow_private {
            &self.open
        } else {
            // Names are checked as they resolve; literal addresses here.
            if let Some(ip) = literal_ip(&url)
                && !is_public(ip)
            {
                return Err(Failure::permanent(format!(
                    "{ip} is a loopback or private address: set allow_private = true on channel \"{}\" to allow it",
                    channel.id
                )));
            }
            &self.guarded
        };
        let request = match (channel.format, secret) {
            (Format::Standard, Secret::Signing(key)) => {
                let body = standard_body(n).to_string();
                let timestamp = now.as_second();
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &n.id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", sign(key, &n.id, timestamp, &body))
                    .body(body)
            }
            (Format::Slack, _) => client
                .post(url)
                .json(&json!({ "text": slack_escape(&sentence(n)) })),
            (Format::Discourse, Secret::ApiKey(key)) => {
                let Some(username) = discourse_user else {
                    return Err(Failure::permanent(format!(
                        "member \"{}\" has no Discourse account: known as discourse:<username> or linked to one",
                        n.member
                    )));
                };
                let What::Badge { badge, tier, .. } = &n.what else {
                    return Err(Failure::permanent(
                        "a Discourse channel grants badges only".to_owned(),
                    ));
                };
                let Some(badge_id) = channel.discourse_badge(badge, tier.as_deref()) else {
                    return Err(Failure::permanent(format!(
                        "no Discourse badge mapped for \"{badge}\""
                    )));
                };
                let mut url = url;
                url.set_path(&format!(
                    "{}/user_badges.json",
                    url.path().trim_end_matches('/')
                ));
                client
                    .post(url)
                    .header("Api-Key", key)
                    .header(
                        "Api-Username",
                        channel.api_username.as_deref().unwrap_or("system"),
                    )
                    // Discourse takes only a link to one of its posts as a
                    // reason: none is known here.
                    .json(&json!({ "username": username, "badge_id": badge_id, "reason": "" }))
            }
            _ => {
                return Err(Failure::permanent(format!(
                    "channel \"{}\" has no credential",
                    channel.id
                )));
            }
        };
        // Errors name the channel, not its address: a Slack address is a
        // credential, and admins read these.
        let response = request.send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            let e = e.without_url();
            Failure::retry(format!(
                "request to channel \"{}\" {what}: {}",
                channel.id,
                error_chain(&e)
            ))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = (response.headers().get("retry-after"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now));
        Err(Failure {
            message: format!("channel \"{}\" answered {status}", channel.id),
            retry_after,
            gone: status == reqwest::StatusCode::GONE,
            permanent: false,
        })
    }
}

/// The Discourse username of a member known as `discourse:<username>`.
pub fn discourse_username(member: &MemberId) -> Option<&str> {
    member
        .as_str()
        .strip_prefix("discourse:")
        .filter(|u| !u.is_empty())
}

/// The bytes of a `whsec_<base64>` secret.
fn signing_key(value: &str) -> Result<Vec<u8>, String> {
    let encoded = value.trim().strip_prefix("whsec_").unwrap_or(value.trim());
    let key = BASE64
        .decode(encoded.as_bytes())
        .map_err(|_| "not a whsec_<base64> secret".to_owned())?;
    if key.len() < 16 {
        return Err("the secret is shorter than 16 bytes".to_owned());
    }
    Ok(key)
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", BASE64.encode(&mac.finalize().into_bytes()))
}

/// The `standard` body: `{"type", "timestamp", "data"}`.
pub fn standard_body(n: &Notification) -> Value {
    let mut data = serde_json::Map::new();
    if n.named {
        data.insert("member".into(), json!(n.member));
        if let Some(name) = &n.name {
            data.insert("name".into(), json!(name));
        }
    }
    if let Some(c) = &n.community {
        data.insert("community".into(), json!(c));
    }
    match &n.what {
        What::Badge { badge, tier, .. } => {
            data.insert("badge".into(), json!(badge));
            data.insert("tier".into(), json!(tier));
        }
        What::Level { level } => {
            data.insert("level".into(), json!(level));
        }
        What::Rank {
            board,
            period,
            rank,
            ..
        } => {
            data.insert("board".into(), json!(board));
            data.insert("period".into(), json!(period.as_str()));
            data.insert("rank".into(), json!(rank));
        }
    }
    json!({
        "type": n.what.kind().as_str(),
        "timestamp": n.at.to_string(),
        "data": data,
    })
}

/// A sentence a person reads, e.g. "Ana Souza earned Mentor (silver) in
/// customs".
pub fn sentence(n: &Notification) -> String {
    let who = match (&n.name, n.named) {
        (Some(name), true) => name.clone(),
        (None, true) => n.member.to_string(),
        (_, false) => "A member".to_owned(),
    };
    let place = n
        .community
        .as_ref()
        .map(|c| format!(" in {c}"))
        .unwrap_or_default();
    match &n.what {
        What::Badge {
            badge_name, tier, ..
        } => match tier {
            Some(t) => format!("{who} earned {badge_name} ({t}){place}"),
            None => format!("{who} earned {badge_name}{place}"),
        },
        What::Level { level } => format!("{who} reached the level {level}{place}"),
        What::Rank {
            board_name,
            period,
            rank,
            ..
        } => {
            let span = match period.as_str() {
                "all_time" => "of all time".to_owned(),
                "day" => "today".to_owned(),
                p => format!("this {p}"),
            };
            format!("{who} is now #{rank} on {board_name} {span}")
        }
    }
}

/// Slack's control characters escaped, so that a name such as
/// `<!channel>` is shown, not acted on.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value.trim()).ok()?.timestamp();
    let wait = at.as_second() - now.as_second();
    Some(Duration::from_secs(u64::try_from(wait).unwrap_or(0)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Whether `ip` is a public address: not loopback, private, link-local,
/// shared, unspecified, broadcast, documentation or multicast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // Addresses that carry an IPv4 one are judged by it.
            let carried = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                return carried(s[6], s[7]); // IPv4-compatible ::a.b.c.d
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return carried(s[6], s[7]); // NAT64
            }
            if s[0] == 0x2002 {
                return carried(s[1], s[2]); // 6to4
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0)
        }
    }
}

/// Resolves names to their public addresses only; a name with none
/// fails to resolve.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves only to loopback or private addresses (allow_private = true allows them)"
                )
                .into();
                return Err(refused);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_test_vector() {
        let key = signing_key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = r#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            sign(&key, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn private_and_loopback_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::7f00:1",
            "fec0::1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.215.14",
            "2606:4700::6810:84e5",
            "8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn slack_text_shows_names_instead_of_acting_on_them() {
        assert_eq!(
            slack_escape("<!channel> & co earned Mentor"),
            "&lt;!channel&gt; &amp; co earned Mentor"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now: jiff::Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Fri, 04 Dec 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn secrets_missing_from_the_environment_are_named() {
        let rules = RuleSet::from_toml(&format!(
            "{}\n[[notify]]\nid = \"feed\"\nurl = \"https://x.org\"\nsecret_env = \"FEED_SECRET\"\non = [\"badge.granted\"]\n",
            include_str!("../../../rules/knowledge-sharing.toml")
        ))
        .unwrap();
        let e = Sender::new(&rules, |_| None).unwrap_err();
        assert!(e.contains("FEED_SECRET is not set"), "{e}");
        let e = Sender::new(&rules, |_| Some("whsec_???".to_owned())).unwrap_err();
        assert!(e.contains("not a whsec_"), "{e}");
        let ok = Sender::new(&rules, |_| {
            Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned())
        });
        assert!(ok.is_ok());
    }
}
