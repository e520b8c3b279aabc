-- The technical rule's confidence is learned from its own resolved fires;
-- with too few of them it is uncalibrated, and this says why (NULL: a
-- calibrated confidence, or a model's).
ALTER TABLE signal_candidates ADD COLUMN uncalibrated text;

-- The hybrid (the rule's side, its confidence moved toward the serving
-- model's) is a source of its own: switching `[signals] strategy` judges
-- the next closes anew instead of mixing the two under one name.
ALTER TABLE signal_candidates DROP CONSTRAINT signal_candidates_source_check;
ALTER TABLE signal_candidates ADD CONSTRAINT signal_candidates_source_check
    CHECK (source IN ('model', 'technical', 'hybrid'));
