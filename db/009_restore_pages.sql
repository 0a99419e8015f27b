-- 009_restore_pages: how the destination put the process's memory back: 'eager'
-- (every page before it ran), 'lazy' (it ran at once, its memory filled from the
-- destination's own copy of the images), '' before it was decided or for post-copy.
ALTER TABLE jobs ADD COLUMN restore_pages TEXT NOT NULL DEFAULT '';
