-- 008_compress: fewer bytes on the wire. What CRIU's page stream and the image files
-- weighed before compression (bytes stays what went on the wire), and the codec the
-- two daemons agreed on for the job: 'zstd' or 'none' ('' before it was decided).
ALTER TABLE jobs ADD COLUMN bytes_raw INTEGER NOT NULL DEFAULT -1;
ALTER TABLE jobs ADD COLUMN compression TEXT NOT NULL DEFAULT '';
