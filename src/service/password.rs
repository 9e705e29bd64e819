//! argon2id password hashes (PHC strings), computed in memory that the
//! calling thread allocates once and reuses.
//!
//! Each argon2 run needs `m_cost` KiB (19 MiB with the default parameters).
//! Letting the crate allocate it per run left glibc holding the freed
//! buffers in its per-thread arenas: 100 concurrent logins kept 270 MiB
//! after they ended. Run on [`super::hasher`]'s fixed set of threads, this
//! bounds the memory to one buffer per hashing thread for the life of the
//! process.

use std::cell::RefCell;

use argon2::password_hash::{self, rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

thread_local! {
    /// This thread's argon2 working memory, grown to the largest run seen.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// A new PHC string for `password` with a random salt and the crate's
/// default (OWASP) parameters.
pub fn hash(password: &[u8]) -> password_hash::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes)?;
    let output = compute(&argon, password, salt_bytes, Params::DEFAULT_OUTPUT_LEN)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into()?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`, computed with the
/// parameters stored in it. An unreadable string is an error, not a
/// mismatch: it means a damaged row, which must not look like a typo.
pub fn verify(password: &[u8], phc: &str) -> password_hash::Result<bool> {
    let parsed = PasswordHash::new(phc)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(password_hash::Error::PhcStringField);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let argon = Argon2::new(algorithm, version, Params::try_from(&parsed)?);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let output = compute(&argon, password, salt_bytes, expected.len())?;
    // `Output`'s equality is constant-time.
    Ok(output == expected)
}

fn compute(
    argon: &Argon2,
    password: &[u8],
    salt: &[u8],
    len: usize,
) -> password_hash::Result<Output> {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        let need = argon.params().block_count();
        if blocks.len() < need {
            blocks.resize(need, Block::default());
        }
        Output::init_with(len, |out| {
            argon
                .hash_password_into_with_memory(password, salt, out, &mut blocks[..])
                .map_err(Into::into)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[test]
    fn hashes_verify_here_and_with_the_crate_s_own_verifier() {
        let phc = hash(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(b"correct horse", &phc).unwrap());
        assert!(!verify(b"correct hors", &phc).unwrap());
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
    }

    #[test]
    fn hashes_made_by_the_crate_verify_with_other_parameters() {
        // Rows written before this module, or with other parameters.
        let params = Params::new(4096, 3, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon2::password_hash::PasswordHasher::hash_password(
            &Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            b"pw",
            &salt,
        )
        .unwrap()
        .to_string();
        assert!(verify(b"pw", &phc).unwrap());
        assert!(!verify(b"pW", &phc).unwrap());
    }

    #[test]
    fn a_damaged_hash_is_an_error_not_a_mismatch() {
        assert!(verify(b"pw", "not a hash").is_err());
        assert!(verify(b"pw", "$argon2id$v=19$m=19456,t=2,p=1").is_err());
    }
}
