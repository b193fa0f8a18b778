//! ACL request signing, byte for byte as Java's `AclClientRPCHook`: every request carries the
//! ext fields `AccessKey` (and `SecurityToken` when there is one) and a `Signature`, the
//! Base64 of HMAC-SHA1, keyed with the secret key, over the values of every ext field in key
//! order (`Signature` excluded, `AccessKey` and `SecurityToken` included) followed by the body.
//!
//! ```
//! use rocketwire_core::acl::Credentials;
//! use rocketwire_core::codec::{RemotingCommand, RequestCode};
//!
//! let credentials = Credentials::new("rocketmq2", "12345678");
//! let mut request = RemotingCommand::request(RequestCode::GetRouteInfoByTopic)
//!     .with_field("topic", "TopicTest");
//! credentials.sign(&mut request);
//! assert_eq!(request.field("AccessKey"), Some("rocketmq2"));
//! assert!(request.field("Signature").is_some());
//! ```

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::codec::RemotingCommand;

/// Ext field of the access key.
pub const ACCESS_KEY: &str = "AccessKey";
/// Ext field of the security token.
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Ext field of the signature.
pub const SIGNATURE: &str = "Signature";

/// Base64 (standard alphabet, padded) of HMAC-SHA1 of `data` keyed with `secret_key` (Java
/// `AclSigner.calSignature`).
pub fn hmac_sha1_base64(secret_key: &[u8], data: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret_key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(data);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An access key, its secret and an optional security token (temporary credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
}

impl Credentials {
    /// Credentials of `access_key` with `secret_key`.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Credentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }

    /// The same credentials with a security token, sent (and signed) with every request.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(token.into());
        self
    }

    /// The access key.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// Signs `command`: sets `AccessKey` (and `SecurityToken`), then `Signature` over every
    /// ext field value in key order and the body. A signature already present is replaced.
    pub fn sign(&self, command: &mut RemotingCommand) {
        command.ext_fields.remove(SIGNATURE);
        command
            .ext_fields
            .insert(ACCESS_KEY.to_string(), self.access_key.clone());
        if let Some(token) = &self.security_token {
            command
                .ext_fields
                .insert(SECURITY_TOKEN.to_string(), token.clone());
        }
        let signature = hmac_sha1_base64(self.secret_key.as_bytes(), &signed_content(command));
        command.ext_fields.insert(SIGNATURE.to_string(), signature);
    }
}

/// What is signed: the ext field values in key order (no `Signature`), then the body.
fn signed_content(command: &RemotingCommand) -> Vec<u8> {
    let values: usize = command.ext_fields.values().map(String::len).sum();
    let mut content = Vec::with_capacity(values + command.body.len());
    for (key, value) in &command.ext_fields {
        if key != SIGNATURE {
            content.extend_from_slice(value.as_bytes());
        }
    }
    content.extend_from_slice(&command.body);
    content
}

impl fmt::Debug for Credentials {
    /// The secret and the token never appear in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::RequestCode;

    #[test]
    fn go_client_vector() {
        // rocketmq-client-go `Test_CalculateSignature`.
        assert_eq!(
            hmac_sha1_base64(b"adiaushdiaushd", b"Hello RocketMQ Client ACL Feature"),
            "tAb/54Rwwcq+pbH8Loi7FWX4QSQ="
        );
    }

    #[test]
    fn java_signer_test_inputs() {
        // Java `AclSignerTest.calSignatureTest` signs "RocketMQ" with "12345678" (it asserts
        // nothing); the value is HMAC-SHA1 as any other implementation computes it.
        assert_eq!(
            hmac_sha1_base64(b"12345678", b"RocketMQ"),
            "IUc8rrO/0gDch8CjObLQsW2rsiA="
        );
        assert_eq!(hmac_sha1_base64(b"", b""), "+9sdGxiqbAgyS31ktx+3Y3BpDh0=");
    }

    #[test]
    fn signs_sorted_values_then_body() {
        let credentials = Credentials::new("ak", "sk").with_security_token("tok");
        let mut command = RemotingCommand::request(RequestCode::SendMessageV2)
            .with_field("b", "2")
            .with_field("a", "1")
            .with_field(SIGNATURE, "stale")
            .with_body(b"BODY".to_vec());
        credentials.sign(&mut command);
        // Keys in byte order: AccessKey, SecurityToken, a, b (upper case sorts first).
        let expected = hmac_sha1_base64(b"sk", b"aktok12BODY");
        assert_eq!(command.field(SIGNATURE), Some(expected.as_str()));
        assert_eq!(command.field(ACCESS_KEY), Some("ak"));
        assert_eq!(command.field(SECURITY_TOKEN), Some("tok"));
        // Signing again gives the same signature (the old one is not signed).
        let once = command.clone();
        credentials.sign(&mut command);
        assert_eq!(command, once);
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let text = format!(
            "{:?}",
            Credentials::new("ak", "very-secret").with_security_token("t0k")
        );
        assert!(text.contains("ak") && !text.contains("very-secret") && !text.contains("t0k"));
    }
}
