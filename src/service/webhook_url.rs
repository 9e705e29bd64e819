//! Where a user's webhook may point: an `http` or `https` URL whose host
//! is, and resolves to, public addresses only, unless the configuration
//! allows private ones (`service.user_webhooks.allow_private_urls`, for
//! tests and single-machine setups). The check runs when the webhook is
//! registered and again on every delivery, inside the HTTP client's own
//! name resolution ([`GuardedResolver`]): a name that resolved to a public
//! address at registration and to `127.0.0.1` later (DNS rebinding) is
//! refused at the moment of connecting, with no second lookup to race.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL is refused; `code()` is the API's stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    #[error("the URL is not an absolute http or https URL with a host")]
    NotHttp,
    #[error("the URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL's host does not resolve")]
    Unresolvable,
    #[error(
        "the URL points at a loopback, private or link-local address, which is not allowed here"
    )]
    Private,
}

impl UrlProblem {
    pub fn code(&self) -> &'static str {
        match self {
            UrlProblem::NotHttp | UrlProblem::TooLong | UrlProblem::Credentials => {
                "user_webhook.bad_url"
            }
            UrlProblem::Unresolvable => "user_webhook.unresolvable",
            UrlProblem::Private => "user_webhook.private_address",
        }
    }
}

/// Whether an address is on the public internet: not loopback, private
/// (RFC 1918, unique local), link-local, shared (CGNAT), unspecified,
/// multicast, broadcast, documentation, benchmarking or reserved. IPv4
/// inside IPv6 (mapped, NAT64) is judged as the IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // 64:ff9b::/96, the well-known NAT64 prefix, carries IPv4.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Parses and checks what can be checked without the network: scheme,
/// host, length, no credentials, and a literal address's kind.
pub fn parse(url: &str, allow_private: bool) -> Result<Url, UrlProblem> {
    if url.len() > MAX_URL_LEN {
        return Err(UrlProblem::TooLong);
    }
    let parsed = Url::parse(url.trim()).map_err(|_| UrlProblem::NotHttp)?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(UrlProblem::NotHttp);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlProblem::Credentials);
    }
    if !allow_private {
        if let Some(ip) = literal_ip(&parsed) {
            if !is_public(ip) {
                return Err(UrlProblem::Private);
            }
        }
    }
    Ok(parsed)
}

/// The host of a URL when it is an address rather than a name.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Resolves a name and refuses it when any address it has is not public
/// (unless allowed): one public address beside a private one is no less
/// a way in.
async fn resolve_checked(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, UrlProblem> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| UrlProblem::Unresolvable)?
        .collect();
    if addrs.is_empty() {
        return Err(UrlProblem::Unresolvable);
    }
    if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(UrlProblem::Private);
    }
    Ok(addrs)
}

/// The whole check at registration: [`parse`], then the host resolved.
pub async fn check(url: &str, allow_private: bool) -> Result<Url, UrlProblem> {
    let parsed = parse(url, allow_private)?;
    if let Some(url::Host::Domain(name)) = parsed.host() {
        resolve_checked(name, allow_private).await?;
    }
    Ok(parsed)
}

/// The delivery client's name resolution: the same check as at
/// registration, at the moment of connecting.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let addrs = resolve_checked(name.as_str(), allow).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether an HTTP client's error came from [`GuardedResolver`] refusing
/// an address (rather than a connection that failed).
pub fn refused_by_guard(e: &(dyn std::error::Error + 'static)) -> Option<UrlProblem> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(p) = err.downcast_ref::<UrlProblem>() {
            return Some(p.clone());
        }
        cur = err.source();
    }
    None
}

/// The client deliveries are sent with: no proxy (it would resolve the
/// name itself, out of the guard's sight), no redirects (a 3xx is a
/// failed attempt, and cannot lead anywhere unchecked), the guard as its
/// resolver, and the attempt's time limit.
pub fn delivery_client(allow_private: bool, timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("vidmocap-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_told_apart() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_the_network() {
        assert!(parse("https://example.com/hook", false).is_ok());
        assert!(parse("http://93.184.216.34:8080/x", false).is_ok());
        for (url, problem) in [
            ("ftp://example.com/", UrlProblem::NotHttp),
            ("file:///etc/passwd", UrlProblem::NotHttp),
            ("javascript:alert(1)", UrlProblem::NotHttp),
            ("example.com/hook", UrlProblem::NotHttp),
            ("https://user:pw@example.com/", UrlProblem::Credentials),
            ("http://127.0.0.1:9000/", UrlProblem::Private),
            ("http://[::1]/", UrlProblem::Private),
            (
                "http://169.254.169.254/latest/meta-data",
                UrlProblem::Private,
            ),
            ("http://2130706433/", UrlProblem::Private), // 127.0.0.1 as one number
        ] {
            assert_eq!(parse(url, false).unwrap_err(), problem, "{url}");
        }
        assert!(parse("http://127.0.0.1:9000/", true).is_ok());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(parse(&long, true).unwrap_err(), UrlProblem::TooLong);
    }

    #[tokio::test]
    async fn names_are_resolved_and_judged() {
        assert_eq!(
            check("http://localhost:9/", false).await.unwrap_err(),
            UrlProblem::Private
        );
        assert!(check("http://localhost:9/", true).await.is_ok());
        assert_eq!(
            check("http://no-such-host.invalid/", true)
                .await
                .unwrap_err(),
            UrlProblem::Unresolvable
        );
    }
}
