//! Long-term CURVE keys: a secret key that is zeroized when dropped, and key pairs.

use std::fmt;

use rand_core::{CryptoRngCore, OsRng};
use zeroize::{Zeroize, Zeroizing};

use super::crypto;
use crate::z85::{self, Z85Error};

/// A CURVE public key: 32 octets (40 characters in Z85).
pub type PublicKey = [u8; 32];

/// A CURVE (X25519) secret key. Its octets are overwritten with zeros when it is dropped, and
/// `Debug` shows only the matching public key.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
}

impl SecretKey {
    /// A secret key from its 32 octets.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey { bytes }
    }

    /// A new random secret key from the operating system's generator.
    ///
    /// # Panics
    ///
    /// If the operating system has no random numbers to give (as every key generator would).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut bytes);
        SecretKey { bytes }
    }

    /// A new random secret key from `rng`.
    pub fn generate_with(rng: &mut dyn CryptoRngCore) -> Result<Self, rand_core::Error> {
        let mut bytes = [0u8; 32];
        rng.try_fill_bytes(&mut bytes)?;
        Ok(SecretKey { bytes })
    }

    /// A secret key from its 40 Z85 characters.
    pub fn from_z85(text: &str) -> Result<Self, Z85Error> {
        let mut bytes = z85::decode_key(text)?;
        let key = SecretKey { bytes };
        bytes.zeroize();
        Ok(key)
    }

    /// The 40 Z85 characters of this secret key (zeroized when dropped).
    pub fn to_z85(&self) -> Zeroizing<String> {
        Zeroizing::new(z85::encode_key(&self.bytes))
    }

    /// The 32 octets.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        crypto::public_of(&self.bytes)
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl PartialEq for SecretKey {
    /// Compares in constant time.
    fn eq(&self, other: &Self) -> bool {
        self.bytes
            .iter()
            .zip(other.bytes.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretKey(public {})",
            z85::encode_key(&self.public_key())
        )
    }
}

/// A long-term key pair: a secret key and its public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Keypair {
    public: PublicKey,
    secret: SecretKey,
}

impl Keypair {
    /// A new random key pair from the operating system's generator (see
    /// [`SecretKey::generate`]).
    pub fn generate() -> Self {
        Keypair::from_secret(SecretKey::generate())
    }

    /// The key pair of a secret key.
    pub fn from_secret(secret: SecretKey) -> Self {
        Keypair {
            public: secret.public_key(),
            secret,
        }
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The public key in Z85.
    pub fn public_z85(&self) -> String {
        z85::encode_key(&self.public)
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair(public {})", self.public_z85())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test key pairs of libzmq's zmq_curve(7) manual page.
    const PAIRS: [(&str, &str); 2] = [
        (
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
        ),
        (
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
        ),
    ];

    #[test]
    fn public_keys_of_the_libzmq_test_pairs() {
        for (public, secret) in PAIRS {
            let pair = Keypair::from_secret(SecretKey::from_z85(secret).unwrap());
            assert_eq!(pair.public_z85(), public);
            assert_eq!(&*pair.secret().to_z85(), secret);
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let secret = SecretKey::from_z85(PAIRS[0].1).unwrap();
        let shown = format!("{secret:?} {:?}", Keypair::from_secret(secret.clone()));
        assert!(!shown.contains(PAIRS[0].1), "{shown}");
        assert!(shown.contains(PAIRS[0].0), "{shown}");
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (Keypair::generate(), Keypair::generate());
        assert_ne!(a.public(), b.public());
        assert_ne!(a.secret(), b.secret());
        assert_eq!(a.secret(), &a.secret().clone());
    }
}
