-- sample_columns: one row per sample with every column of `samples` and every est_* estimate.
-- requires: samples, estimates
create or replace view sample_columns as
select s.*, e.* exclude (sample, database, content_key)
from samples s left join estimates e using (sample);
