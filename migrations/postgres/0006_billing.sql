-- Stripe billing. Like the ledger, these rows outlive the account (no
-- foreign keys): they hold only opaque ids and amounts, kept for the books.
--
-- The Stripe customer made for an account before its first checkout, so
-- that every later event (invoices, subscriptions, refunds) names it.
CREATE TABLE billing_customers (
    account_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

-- Each Checkout session we created, with what it sells: a completed
-- session credits from this row, never from the event.
CREATE TABLE checkout_sessions (
    session_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    price_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    credits BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    completed_ms BIGINT
);

-- Payments that bought credits (a pack's checkout, a plan's invoice), by
-- Stripe payment intent: what a refund takes back from.
CREATE TABLE payments (
    payment_intent TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    credits BIGINT NOT NULL,
    refunded_credits BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL
);

-- Subscriptions as Stripe last told us; downgrade_at_ms is a cancellation
-- that takes effect at the end of the paid period.
CREATE TABLE subscriptions (
    subscription_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    price_id TEXT NOT NULL,
    status TEXT NOT NULL,
    downgrade_at_ms BIGINT,
    event_created BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX subscriptions_downgrade ON subscriptions(downgrade_at_ms);
