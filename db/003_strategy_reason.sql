-- 003_strategy_reason: why mode "live" ran as the strategy it did.
ALTER TABLE jobs ADD COLUMN strategy_reason TEXT NOT NULL DEFAULT '';
