-- sample_attributes: the descriptive columns of every sample in long form, one row per sample and column.
-- value is the text, value_num the number (null when the text is not a number); missing values are kept as nulls
-- (empty text counts as missing too).
-- Bookkeeping columns (paths, hashes, sizes, times) are left out; speaker, gender, age, duration, labels and est_* stay.
-- requires: sample_columns
create or replace view sample_attributes as
with wide as (
    select sample, database, speaker as unit_speaker,
           coalesce(columns(lambda c: c not in ('sample', 'database', 'file', 'start', 'end', 'sample_rate', 'channels', 'bytes', 'audio_hash',
                                  'content_key', 'file_id', 'table_split', 'file_duration', 'mtime_ns', 'import_hash', 'source'))::varchar, '<missing>')
    from sample_columns
)
select sample, database, unit_speaker as speaker, attribute, nullif(nullif(value, '<missing>'), '') as value,
       try_cast(nullif(nullif(value, '<missing>'), '') as double) as value_num
from (unpivot wide on columns(* exclude (sample, database, unit_speaker)) into name attribute value value);
