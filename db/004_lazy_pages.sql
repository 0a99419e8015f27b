-- 004_lazy_pages: progress of the background page transfer in lazy (post-copy) mode.
ALTER TABLE jobs ADD COLUMN lazy_pages INTEGER NOT NULL DEFAULT -1;
ALTER TABLE jobs ADD COLUMN lazy_pages_left INTEGER NOT NULL DEFAULT -1;
