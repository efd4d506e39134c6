//! Email addresses, normalized once at the edge.

use std::fmt;

use serde::Serialize;

/// Why a string is not an email address we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is empty")]
    Empty,
    #[error("email is longer than 254 characters")]
    TooLong,
    #[error("email must look like name@example.com")]
    Malformed,
    #[error("email must use ASCII characters only")]
    NotAscii,
}

/// A syntactically valid email address, trimmed and lower-cased (local part and domain), so
/// that `Ann@Example.COM ` and `ann@example.com` are the same identity.
///
/// The accepted syntax is the practical subset of RFC 5321 that mail providers deliver to: a
/// dot-atom local part of at most 64 characters and a domain of at least two DNS labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses and normalizes an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if !trimmed.is_ascii() {
            return Err(EmailError::NotAscii);
        }
        if trimmed.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let normalized = trimmed.to_ascii_lowercase();
        let (local, domain) = normalized.split_once('@').ok_or(EmailError::Malformed)?;
        if !valid_local_part(local) || !valid_domain(domain) {
            return Err(EmailError::Malformed);
        }
        Ok(Self(normalized))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as a page may show it to whoever holds a link: the first character of the
    /// local part, `***`, and the domain (`a***@example.com`). Enough for its owner to
    /// recognise, too little for anyone else to learn the address.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first = local.chars().next().map(String::from).unwrap_or_default();
        format!("{first}***@{domain}")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.len() <= 64
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
        })
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Ann.Lee+gpt@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "ann.lee+gpt@example.com");
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        let cases = [
            ("", EmailError::Empty, "empty"),
            ("   ", EmailError::Empty, "blank"),
            ("ann", EmailError::Malformed, "no at sign"),
            ("ann@", EmailError::Malformed, "no domain"),
            ("@example.com", EmailError::Malformed, "no local part"),
            ("ann@example", EmailError::Malformed, "single-label domain"),
            ("ann@@example.com", EmailError::Malformed, "two at signs"),
            (
                "a b@example.com",
                EmailError::Malformed,
                "space in local part",
            ),
            ("ann..lee@example.com", EmailError::Malformed, "double dot"),
            (".ann@example.com", EmailError::Malformed, "leading dot"),
            (
                "ann@-example.com",
                EmailError::Malformed,
                "label starts with hyphen",
            ),
            ("ann@example..com", EmailError::Malformed, "empty label"),
            (
                "ann@example.123",
                EmailError::Malformed,
                "numeric top-level domain",
            ),
            ("anné@example.com", EmailError::NotAscii, "non-ASCII"),
            ("<ann@example.com>", EmailError::Malformed, "angle brackets"),
        ];
        for (raw, expected, why) in cases {
            assert_eq!(Email::parse(raw), Err(expected), "{why}: {raw:?}");
        }
    }

    #[test]
    fn length_limits_are_enforced() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long_local), Err(EmailError::Malformed));
        let long_total = format!("a@{}.com", "b".repeat(250));
        assert_eq!(Email::parse(&long_total), Err(EmailError::TooLong));
        let max_local = format!("{}@example.com", "a".repeat(64));
        assert!(Email::parse(&max_local).is_ok());
    }

    #[test]
    fn a_masked_address_keeps_the_first_character_and_the_domain() {
        for (raw, masked) in [
            ("Ann.Lee@Example.com", "a***@example.com"),
            ("b@x.io", "b***@x.io"),
            ("zz+tag@mail.example.org", "z***@mail.example.org"),
        ] {
            assert_eq!(Email::parse(raw).unwrap().masked(), masked, "{raw}");
        }
    }
}
