//! Passwords of the people who run the server (the admin console's, the team's): kept only as
//! argon2id PHC strings strong enough for OWASP's password-storage floor, and chosen long
//! enough to resist guessing.

use std::fmt;

/// OWASP's argon2id floor: memory in KiB, passes, lanes.
pub const MIN_MEMORY_KIB: u32 = 19_456;
pub const MIN_PASSES: u32 = 2;
pub const MIN_LANES: u32 = 1;

/// The most a hash may ask for, so a hash put in the database or the environment cannot make
/// each check take gigabytes or minutes: 1 GiB, 10 passes, 16 lanes.
pub const MAX_MEMORY_KIB: u32 = 1_048_576;
pub const MAX_PASSES: u32 = 10;
pub const MAX_LANES: u32 = 16;

/// An argon2id hash in PHC form (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), with
/// parameters at least OWASP's floor. Only its form and parameters are checked here; whether a
/// password matches it is the `PasswordHasher` port's to say.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

/// Why a string is not a usable password hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordHashError {
    #[error("it is not an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")]
    Malformed,
    #[error("its parameters are below m={MIN_MEMORY_KIB}, t={MIN_PASSES}, p={MIN_LANES} (it has m={memory}, t={passes}, p={lanes})")]
    TooWeak {
        memory: u32,
        passes: u32,
        lanes: u32,
    },
    #[error("its parameters are above m={MAX_MEMORY_KIB}, t={MAX_PASSES}, p={MAX_LANES} (it has m={memory}, t={passes}, p={lanes})")]
    TooCostly {
        memory: u32,
        passes: u32,
        lanes: u32,
    },
}

impl PasswordHash {
    pub fn parse(raw: &str) -> Result<Self, PasswordHashError> {
        let raw = raw.trim();
        let parts: Vec<&str> = raw.split('$').collect();
        let ["", "argon2id", "v=19", params, salt, hash] = parts.as_slice() else {
            return Err(PasswordHashError::Malformed);
        };
        let b64 = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        };
        if !b64(salt) || !b64(hash) {
            return Err(PasswordHashError::Malformed);
        }
        let (mut memory, mut passes, mut lanes) = (None, None, None);
        for param in params.split(',') {
            let (name, value) = param.split_once('=').ok_or(PasswordHashError::Malformed)?;
            let value: u32 = value.parse().map_err(|_| PasswordHashError::Malformed)?;
            let slot = match name {
                "m" => &mut memory,
                "t" => &mut passes,
                "p" => &mut lanes,
                _ => return Err(PasswordHashError::Malformed),
            };
            if slot.replace(value).is_some() {
                return Err(PasswordHashError::Malformed);
            }
        }
        let (Some(memory), Some(passes), Some(lanes)) = (memory, passes, lanes) else {
            return Err(PasswordHashError::Malformed);
        };
        if memory < MIN_MEMORY_KIB || passes < MIN_PASSES || lanes < MIN_LANES {
            return Err(PasswordHashError::TooWeak {
                memory,
                passes,
                lanes,
            });
        }
        if memory > MAX_MEMORY_KIB || passes > MAX_PASSES || lanes > MAX_LANES {
            return Err(PasswordHashError::TooCostly {
                memory,
                passes,
                lanes,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never the hash itself in a log line.
impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewPasswordError {
    #[error("a password must be at least {} characters", NewPassword::MIN_CHARS)]
    TooShort,
    #[error("a password must be at most {} characters", NewPassword::MAX_CHARS)]
    TooLong,
}

/// A password someone chose (ASVS 6.2: at least 12 characters, any characters allowed, at most
/// 128 so hashing stays bounded). Its text is never shown or logged.
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, NewPasswordError> {
        let n = raw.chars().count();
        if raw.trim().chars().count() < Self::MIN_CHARS {
            return Err(NewPasswordError::TooShort);
        }
        if n > Self::MAX_CHARS {
            return Err(NewPasswordError::TooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT_AND_HASH: &str = "c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo";

    fn phc(params: &str) -> String {
        format!("$argon2id$v=19${params}${SALT_AND_HASH}")
    }

    #[test]
    fn an_argon2id_hash_at_owasps_floor_or_above_is_taken() {
        for params in ["m=19456,t=2,p=1", "m=65536,t=3,p=4", "p=1,t=2,m=19456"] {
            let hash = PasswordHash::parse(&phc(params)).unwrap();
            assert_eq!(hash.as_str(), phc(params));
        }
        assert!(PasswordHash::parse(&format!("  {}\n", phc("m=19456,t=2,p=1"))).is_ok());
        // The base64 alphabet's `+` and `/` appear in real salts and hashes.
        assert!(PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$a+b/c$d/e+f").is_ok());
        assert_eq!(
            format!(
                "{:?}",
                PasswordHash::parse(&phc("m=19456,t=2,p=1")).unwrap()
            ),
            "PasswordHash(..)"
        );
    }

    #[test]
    fn weaker_parameters_are_refused_one_below_each_floor() {
        for (params, (memory, passes, lanes)) in [
            ("m=19455,t=2,p=1", (19455, 2, 1)),
            ("m=19456,t=1,p=1", (19456, 1, 1)),
            ("m=19456,t=2,p=0", (19456, 2, 0)),
        ] {
            assert_eq!(
                PasswordHash::parse(&phc(params)),
                Err(PasswordHashError::TooWeak {
                    memory,
                    passes,
                    lanes
                }),
                "{params}"
            );
        }
    }

    #[test]
    fn parameters_past_the_caps_are_refused_one_above_each() {
        assert!(PasswordHash::parse(&phc("m=1048576,t=10,p=16")).is_ok());
        for (params, (memory, passes, lanes)) in [
            ("m=1048577,t=2,p=1", (1048577, 2, 1)),
            ("m=19456,t=11,p=1", (19456, 11, 1)),
            ("m=19456,t=2,p=17", (19456, 2, 17)),
        ] {
            assert_eq!(
                PasswordHash::parse(&phc(params)),
                Err(PasswordHashError::TooCostly {
                    memory,
                    passes,
                    lanes
                }),
                "{params}"
            );
        }
    }

    #[test]
    fn other_algorithms_and_malformed_strings_are_refused() {
        for raw in [
            String::new(),
            "hunter2hunter2".to_owned(),
            format!("$argon2i$v=19$m=19456,t=2,p=1${SALT_AND_HASH}"),
            format!("$argon2d$v=19$m=19456,t=2,p=1${SALT_AND_HASH}"),
            format!("$argon2id$v=16$m=19456,t=2,p=1${SALT_AND_HASH}"),
            "$2b$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234".to_owned(),
            phc("m=19456,t=2"),
            phc("m=19456,t=2,p=1,x=1"),
            phc("m=19456,t=2,p=1,m=20000"),
            phc("m=big,t=2,p=1"),
            phc("m19456,t=2,p=1"),
            "$argon2id$v=19$m=19456,t=2,p=1$$YWJj".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2F sdA$YWJj".to_owned(),
            format!("{}$extra", phc("m=19456,t=2,p=1")),
        ] {
            assert_eq!(
                PasswordHash::parse(&raw),
                Err(PasswordHashError::Malformed),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_new_password_has_12_to_128_characters() {
        assert_eq!(
            NewPassword::parse(" twelve chars ").unwrap().as_str(),
            " twelve chars ",
            "kept as typed"
        );
        assert!(NewPassword::parse(&"a".repeat(12)).is_ok());
        assert!(
            NewPassword::parse(&"é".repeat(12)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            NewPassword::parse(&"a".repeat(11)).err(),
            Some(NewPasswordError::TooShort)
        );
        assert_eq!(
            NewPassword::parse(&format!("  {}  ", "a".repeat(11))).err(),
            Some(NewPasswordError::TooShort),
            "white space around does not count"
        );
        assert!(NewPassword::parse(&"a".repeat(128)).is_ok());
        assert_eq!(
            NewPassword::parse(&"a".repeat(129)).err(),
            Some(NewPasswordError::TooLong)
        );
        assert_eq!(
            format!("{:?}", NewPassword::parse(&"secret".repeat(3)).unwrap()),
            "NewPassword(..)"
        );
    }
}
