-- Outbox rows the relay could not turn into events (written there by something other than
-- this library, or by a service that got the row format wrong): kept here with the reason,
-- so they neither block the relay nor get lost.
CREATE TABLE __SCHEMA__.audit_outbox_rejected (
    id          bigint      NOT NULL,
    event       text        NOT NULL,
    reason      text        NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_outbox_rejected_pkey PRIMARY KEY (id)
);
