-- Sign-in with OpenID Connect providers and GitHub.
--
-- An identity is one provider's subject (its stable user id), linked to
-- one account; an account may have several, and none needs a password
-- (such accounts have an empty password_hash, which no login matches).
CREATE TABLE identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX identities_account ON identities(account_id);

-- Sign-ins begun and not yet come back: what the callback needs (the
-- nonce, the PKCE verifier), found by the SHA-256 of the state sent to
-- the provider and of the browser cookie set when it began. Each row is
-- taken (deleted) by the one callback that uses it; rows older than the
-- sign-in's lifetime are deleted as new sign-ins begin.
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    -- 1: begun from sign-up with "I am 18 or over" ticked; only such a
    -- sign-in may create an account.
    adult_confirmed INTEGER NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL
);
CREATE INDEX oidc_logins_created ON oidc_logins(created_ms);
