-- A payment's row is inserted by its PaymentReceived and updated by its PaymentProcessed, which changes no
-- indexed column. On a page that inserts filled, the new version goes to another page and each of the five
-- indexes gets an entry for it. With half of each page left free, the new version stays on its page: a
-- heap-only (HOT) update, which writes no index at all. The table is no larger for it: the new versions
-- take the room left, instead of new pages. Measured (bench/README.md, "Session of 2026-12-03 (night)"):
-- 99,000 such updates took 3.3-3.7 s at the default fillfactor, 13 of them HOT, and 1.0 s at 50, all HOT.
-- Existing pages keep their fill; new ones are filled to half.
ALTER TABLE payments SET (fillfactor = 50);
