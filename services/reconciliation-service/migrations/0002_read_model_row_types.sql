-- One composite type per projection write (projection.py's row tuples, same columns, same order), so a
-- batch goes to Postgres as ONE array of rows per table: `unnest($1::received_row[])`. An array per column
-- costs the driver a type check per value; an array of rows, one per row.
-- Part of the read model: a rebuild creates them in its staging schema too.

CREATE TYPE bank_account_row AS (firm_id text, bank_account_id text, name text, kind text, currency text);

CREATE TYPE contact_row AS (firm_id text, contact_id text, name text, email text);

CREATE TYPE matter_row AS (firm_id text, matter_id text, contact_id text, name text, number text);

CREATE TYPE received_row AS (
    firm_id text, payment_id text, bank_account_id text, bill_id text, link_id text, source text, amount bigint,
    currency text, method text, payer_name text, payer_email text, reference text, card_brand text, last4 text,
    received_at timestamptz
);

CREATE TYPE processed_row AS (
    firm_id text, payment_id text, bank_account_id text, bill_id text, amount bigint, currency text, method text,
    processed_at timestamptz
);

CREATE TYPE failed_row AS (firm_id text, payment_id text, failed_at timestamptz, failure_reason text);

CREATE TYPE unallocated_row AS (
    firm_id text, payment_id text, bill_id text, currency text, unallocated_amount bigint, unallocated_at timestamptz
);

CREATE TYPE link_change_row AS (
    firm_id text, payment_id text, link_state text, contact_id text, matter_id text, linked_by text,
    linked_at timestamptz, link_changed_at timestamptz, link_event_id text
);

CREATE TYPE history_row AS (
    event_id text, firm_id text, payment_id text, type text, at timestamptz, actor text, details jsonb
);
