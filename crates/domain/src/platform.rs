//! Learning platforms registered by the operator to send their visitors to the chat with a
//! signed launch token: the platform's issuer, its key (the algorithm pinned with it; a shared
//! secret kept sealed), and the origins that may embed the chat.

use time::OffsetDateTime;

use crate::{PlatformId, Sealed};

/// Why a platform's registration is refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("the name must be 1 to 100 characters")]
    Name,
    #[error("the issuer must be 1 to 255 characters without spaces (the iss the platform puts in its tokens)")]
    Issuer,
    #[error("list 1 to 20 origins that embed the chat, each https://host or https://host:port (http only for localhost or 127.0.0.1)")]
    Origin,
}

/// The platform's name, for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformName(String);

impl PlatformName {
    pub fn parse(raw: &str) -> Result<Self, PlatformError> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > 100 || name.chars().any(char::is_control) {
            return Err(PlatformError::Name);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `iss` of the platform's tokens, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, PlatformError> {
        let issuer = raw.trim();
        let chars = issuer.chars().count();
        if chars == 0 || chars > 255 || issuer.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(PlatformError::Issuer);
        }
        Ok(Self(issuer.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An origin allowed to embed the chat (its `Origin` header and `frame-ancestors` entry):
/// `https://host[:port]`, lower case; `http://` only for this machine (localhost, 127.0.0.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingOrigin(String);

impl EmbeddingOrigin {
    /// The most origins one platform may list.
    pub const MAX: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, PlatformError> {
        let origin = raw.trim().trim_end_matches('/').to_ascii_lowercase();
        let (scheme, rest) = origin.split_once("://").ok_or(PlatformError::Origin)?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        let port_ok = port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0));
        let scheme_ok =
            scheme == "https" || (scheme == "http" && matches!(host, "localhost" | "127.0.0.1"));
        if !(host_ok && port_ok && scheme_ok) {
            return Err(PlatformError::Origin);
        }
        // Browsers leave the scheme's default port out of `Origin`.
        let default_port = matches!(
            (scheme, port),
            ("https", Some("443")) | ("http", Some("80"))
        );
        if default_port {
            return Ok(Self(format!("{scheme}://{host}")));
        }
        Ok(Self(origin))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A platform's key as stored: public keys as they are, a shared secret sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredLaunchKey {
    EdDsa { public_pem: String },
    Rs256 { public_pem: String },
    Hs256 { sealed: Sealed },
}

impl StoredLaunchKey {
    /// The stable name stored (`eddsa`, `rs256`, `hs256`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EdDsa { .. } => "eddsa",
            Self::Rs256 { .. } => "rs256",
            Self::Hs256 { .. } => "hs256",
        }
    }
}

/// A registered platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlatform {
    pub id: PlatformId,
    pub name: PlatformName,
    pub issuer: Issuer,
    pub key: StoredLaunchKey,
    pub origins: Vec<EmbeddingOrigin>,
    pub created_at: OffsetDateTime,
}

impl LaunchPlatform {
    /// The embedding origins typed one per line (1 to [`EmbeddingOrigin::MAX`]), each checked,
    /// duplicates dropped.
    pub fn parse_origins(lines: &[String]) -> Result<Vec<EmbeddingOrigin>, PlatformError> {
        let mut origins: Vec<EmbeddingOrigin> = Vec::new();
        for line in lines.iter().filter(|l| !l.trim().is_empty()) {
            let origin = EmbeddingOrigin::parse(line)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        if origins.is_empty() || origins.len() > EmbeddingOrigin::MAX {
            return Err(PlatformError::Origin);
        }
        Ok(origins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_issuers_are_bounded_at_their_edges() {
        assert_eq!(PlatformName::parse("  Moodle ").unwrap().as_str(), "Moodle");
        assert!(PlatformName::parse(&"n".repeat(100)).is_ok());
        for bad in [String::new(), "n".repeat(101), "a\tb".into()] {
            assert_eq!(
                PlatformName::parse(&bad),
                Err(PlatformError::Name),
                "{bad:?}"
            );
        }
        assert_eq!(
            Issuer::parse(" https://lms.example.edu ").unwrap().as_str(),
            "https://lms.example.edu"
        );
        assert!(Issuer::parse(&"i".repeat(255)).is_ok());
        for bad in [String::new(), "i".repeat(256), "two words".into()] {
            assert_eq!(Issuer::parse(&bad), Err(PlatformError::Issuer), "{bad:?}");
        }
    }

    #[test]
    fn embedding_origins_are_https_origins_only() {
        for good in [
            "https://lms.example.edu",
            "HTTPS://LMS.Example.edu/",
            "https://lms.example.edu:8443",
            "http://localhost:3000",
            "http://localhost",
            "http://127.0.0.1:8081",
        ] {
            assert!(EmbeddingOrigin::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            EmbeddingOrigin::parse("HTTPS://LMS.Example.edu/")
                .unwrap()
                .as_str(),
            "https://lms.example.edu"
        );
        for bad in [
            "lms.example.edu",
            "http://lms.example.edu",
            "http://127.0.0.2:8081",
            "http://localhost.example.edu",
            "https://lms.example.edu/course",
            "https://lms.example.edu?x=1",
            "https://user@lms.example.edu",
            "https://lms.example.edu:0",
            "https://lms.example.edu:65536",
            "https://lms.example.edu:",
            "https://-lms.example.edu",
            "https://lms..example.edu",
            "https://*.example.edu",
            "https://",
            "javascript://x",
        ] {
            assert_eq!(
                EmbeddingOrigin::parse(bad),
                Err(PlatformError::Origin),
                "{bad}"
            );
        }
    }

    #[test]
    fn origins_are_listed_once_and_at_most_twenty() {
        let lines = |n: usize| {
            (0..n)
                .map(|i| format!("https://lms{i}.example.edu"))
                .collect::<Vec<_>>()
        };
        let mut twenty = lines(20);
        twenty.push("https://lms0.example.edu/".into());
        twenty.push("  ".into());
        assert_eq!(LaunchPlatform::parse_origins(&twenty).unwrap().len(), 20);
        assert_eq!(
            LaunchPlatform::parse_origins(&lines(21)),
            Err(PlatformError::Origin)
        );
        assert_eq!(LaunchPlatform::parse_origins(&lines(1)).unwrap().len(), 1);
        assert_eq!(
            LaunchPlatform::parse_origins(&["  ".into()]),
            Err(PlatformError::Origin),
            "none: nobody could launch"
        );
        assert_eq!(
            StoredLaunchKey::Hs256 {
                sealed: Sealed::from_bytes(vec![1])
            }
            .kind(),
            "hs256"
        );
        assert_eq!(
            StoredLaunchKey::EdDsa {
                public_pem: "p".into()
            }
            .kind(),
            "eddsa"
        );
        assert_eq!(
            StoredLaunchKey::Rs256 {
                public_pem: "p".into()
            }
            .kind(),
            "rs256"
        );
    }
}
