//! Typed identifiers, so a session id can never be passed where a user id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID (from storage or a verified token).
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// Builds a random (version 4) id from 16 bytes the caller drew from a CSPRNG.
            pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies a user: the owner of sessions, conversations and connections.
    UserId
);
uuid_id!(
    /// Identifies a sign-in session; the `sid` claim of a session token.
    SessionId
);
uuid_id!(
    /// Identifies a saved conversation.
    ConversationId
);
uuid_id!(
    /// Identifies a connected account.
    AccountId
);
uuid_id!(
    /// Identifies a client registered with gptgate's OAuth authorization server (its
    /// `client_id`).
    ClientId
);
uuid_id!(
    /// Identifies one grant of the authorization server: what one authorization code started,
    /// with every refresh token and access token rotated from it (a refresh-token family).
    GrantId
);
uuid_id!(
    /// Identifies an API key made in the admin console.
    ApiKeyId
);
uuid_id!(
    /// Identifies a learning platform registered to launch visitors into the chat.
    PlatformId
);
