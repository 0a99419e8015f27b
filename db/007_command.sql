-- 007_command: what a pid job moves, for people: the root's command line at the
-- source (printable ASCII, at most 256 bytes), sent to the destination with the facts.
ALTER TABLE jobs ADD COLUMN command TEXT NOT NULL DEFAULT '';
