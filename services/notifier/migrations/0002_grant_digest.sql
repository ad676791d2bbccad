-- The grant behind an email's link button is minted when the email is sent and kept only as its SHA-256.
ALTER TABLE outgoing_emails ADD COLUMN grant_sha256 text;

-- Bodies composed before held a clear 7-day grant: put the slot back (a pending one gets a new grant when
-- it is sent; a sent one keeps no credential at rest). Such old grants no longer verify anyway.
UPDATE outgoing_emails
   SET body_text = regexp_replace(body_text, '\?grant=[A-Za-z0-9._-]+', '?grant=__payment_link_grant__', 'g'),
       body_html = regexp_replace(body_html, '\?grant=[A-Za-z0-9._-]+', '?grant=__payment_link_grant__', 'g')
 WHERE body_text LIKE '%?grant=%' OR body_html LIKE '%?grant=%';
