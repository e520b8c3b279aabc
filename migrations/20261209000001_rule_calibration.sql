-- The technical rule's confidence is learned from its own resolved fires;
-- with too few of them it is uncalibrated, and this says why (NULL: a
-- calibrated confidence, or a model's).
ALTER TABLE signal_candidates ADD COLUMN uncalibrated text;
