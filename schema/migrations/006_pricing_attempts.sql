-- Pricing attempts: a session whose pricing keeps failing (an error worth
-- retrying, or a panic) is retried a bounded number of times, counted across
-- every replica, then quarantined as failed with the reason instead of being
-- claimed forever. A lifecycle change or a stored price starts the count
-- afresh; repricing a quarantined session revives it.
ALTER TABLE sessions
    ADD COLUMN pricing_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN pricing_error    text NOT NULL DEFAULT '';
