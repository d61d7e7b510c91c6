//! Which garment URLs the proxy will fetch at all, decided from the URL text alone.
//!
//! The merchant configures URL prefixes (e.g. `https://cdn.shopify.com/`); anything else is an
//! attempt to make the proxy fetch on someone's behalf. Prefixes must end in `/` so that
//! `https://cdn.shopify.com` cannot be extended to `https://cdn.shopify.com.evil.example/`
//! (imgproxy's documented pitfall). The URL is parsed with the WHATWG rules browsers use, which
//! normalise numeric host spellings (`0x7f.1`, `2130706433`, `0177.0.0.1`) into IPv4 addresses:
//! every IP-literal host is refused, so none of those spellings get through.

use url::{Host, Url};

/// The longest garment URL taken on any route: a product image's address is far shorter, and
/// the cap bounds what an attacker's URL can pin in the fetcher's maps (issue 13).
pub const MAX_URL_BYTES: usize = 2 * 1024;

/// Why a garment URL is refused before any network traffic. Maps to 400 `garment_url_not_allowed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("garment_url is not a valid absolute URL")]
    Unparsable,
    #[error("garment_url is longer than {MAX_URL_BYTES} bytes")]
    TooLong,
    #[error("garment_url must use https")]
    NotHttps,
    #[error("garment_url must not contain a user name or password")]
    Userinfo,
    #[error("garment_url must name a host, not an IP address")]
    IpLiteral,
    #[error("garment_url is not under an allowed prefix")]
    PrefixNotAllowed,
}

/// A configured prefix that is not usable; reported at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("garment host prefix {prefix:?} is invalid: {reason}")]
pub struct PrefixError {
    pub prefix: String,
    pub reason: &'static str,
}

/// The allowed prefixes, validated once.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    prefixes: Vec<AllowedPrefix>,
}

#[derive(Debug, Clone)]
struct AllowedPrefix {
    /// The normalised prefix text the normalised URL must start with.
    text: String,
    host: String,
    port: Option<u16>,
}

/// A URL that passed [`UrlPolicy::check`]: https, a host name under an allowed prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedUrl {
    pub url: Url,
    pub host: String,
    pub port: u16,
}

impl UrlPolicy {
    /// Validates prefixes such as `https://cdn.shopify.com/`; an empty list allows nothing.
    pub fn new<S: AsRef<str>>(prefixes: &[S]) -> Result<Self, PrefixError> {
        let prefixes = prefixes
            .iter()
            .map(|p| AllowedPrefix::parse(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { prefixes })
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// Decides from the text alone; the addresses its host resolves to are checked separately.
    pub fn check(&self, raw: &str) -> Result<AllowedUrl, UrlRefusal> {
        if raw.len() > MAX_URL_BYTES {
            return Err(UrlRefusal::TooLong);
        }
        let url = Url::parse(raw.trim()).map_err(|_| UrlRefusal::Unparsable)?;
        if url.scheme() != "https" {
            return Err(UrlRefusal::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::Userinfo);
        }
        let host = match url.host() {
            Some(Host::Domain(name)) => name.to_ascii_lowercase(),
            Some(Host::Ipv4(_) | Host::Ipv6(_)) => return Err(UrlRefusal::IpLiteral),
            None => return Err(UrlRefusal::Unparsable),
        };
        let port = url.port_or_known_default().ok_or(UrlRefusal::Unparsable)?;
        let under_prefix = self
            .prefixes
            .iter()
            .any(|p| p.host == host && p.port == url.port() && url.as_str().starts_with(&p.text));
        if !under_prefix {
            return Err(UrlRefusal::PrefixNotAllowed);
        }
        Ok(AllowedUrl { url, host, port })
    }
}

impl AllowedPrefix {
    fn parse(raw: &str) -> Result<Self, PrefixError> {
        let fail = |reason| PrefixError {
            prefix: raw.to_owned(),
            reason,
        };
        if !raw.ends_with('/') {
            return Err(fail("it must end with '/'"));
        }
        let url = Url::parse(raw).map_err(|_| fail("it is not an absolute URL"))?;
        if url.scheme() != "https" {
            return Err(fail("it must start with https://"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(fail("it must not contain userinfo"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(fail("it must not contain a query or fragment"));
        }
        let host = match url.host() {
            Some(Host::Domain(name)) => name.to_ascii_lowercase(),
            _ => return Err(fail("it must name a host, not an IP address")),
        };
        Ok(Self {
            text: url.as_str().to_owned(),
            host,
            port: url.port(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> UrlPolicy {
        UrlPolicy::new(&["https://cdn.shopify.com/", "https://shop.example/assets/"]).unwrap()
    }

    #[test]
    fn urls_under_a_prefix_are_allowed() {
        let ok = policy()
            .check("https://cdn.shopify.com/s/files/shirt.png?v=3")
            .unwrap();
        assert_eq!((ok.host.as_str(), ok.port), ("cdn.shopify.com", 443));
        assert!(
            policy()
                .check("https://SHOP.example/assets/a/b.jpg")
                .is_ok(),
            "host case is normalised"
        );
        assert!(
            policy().check("https://cdn.shopify.com:443/x.png").is_ok(),
            "default port is the same origin"
        );
    }

    #[test]
    fn refusals_say_why() {
        use UrlRefusal::*;
        for (url, why) in [
            ("http://cdn.shopify.com/x.png", NotHttps),
            ("ftp://cdn.shopify.com/x.png", NotHttps),
            ("file:///etc/passwd", NotHttps),
            ("https://cdn@evil.example/x.png", Userinfo),
            ("https://cdn.shopify.com@evil.example/x.png", Userinfo),
            ("https://user:pw@cdn.shopify.com/x.png", Userinfo),
            ("https://127.0.0.1/x.png", IpLiteral),
            ("https://2130706433/x.png", IpLiteral),
            ("https://0x7f000001/x.png", IpLiteral),
            ("https://0x7f.1/x.png", IpLiteral),
            ("https://0177.0.0.1/x.png", IpLiteral),
            ("https://127.1/x.png", IpLiteral),
            ("https://169.254.169.254/latest/meta-data/", IpLiteral),
            ("https://[::1]/x.png", IpLiteral),
            ("https://[::ffff:7f00:1]/x.png", IpLiteral),
            (
                "https://cdn.shopify.com.evil.example/x.png",
                PrefixNotAllowed,
            ),
            ("https://cdn.shopify.com:8443/x.png", PrefixNotAllowed),
            ("https://shop.example/other/x.png", PrefixNotAllowed),
            (
                "https://shop.example/assets/../admin/x.png",
                PrefixNotAllowed,
            ),
            ("https://shop.example/assets%2F..%2Fadmin", PrefixNotAllowed),
            (
                "https://evil.example/https://cdn.shopify.com/x.png",
                PrefixNotAllowed,
            ),
            ("not a url", Unparsable),
            ("", Unparsable),
        ] {
            assert_eq!(policy().check(url), Err(why), "{url}");
        }
    }

    #[test]
    fn nothing_is_allowed_without_prefixes() {
        let empty = UrlPolicy::new::<&str>(&[]).unwrap();
        assert!(empty.is_empty());
        assert_eq!(
            empty.check("https://cdn.shopify.com/x.png"),
            Err(UrlRefusal::PrefixNotAllowed)
        );
    }

    #[test]
    fn unsafe_prefixes_are_rejected_at_start_up() {
        for prefix in [
            "https://cdn.shopify.com",
            "http://cdn.shopify.com/",
            "https://u@cdn.shopify.com/",
            "https://10.0.0.1/",
            "https://cdn.shopify.com/?q=1/",
            "cdn.shopify.com/",
        ] {
            assert!(
                UrlPolicy::new(&[prefix]).is_err(),
                "{prefix} should be rejected"
            );
        }
    }
}
