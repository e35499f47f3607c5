-- sample_columns without estimates (a workspace where `nkl predict` has not run yet).
-- requires: samples
-- unless: estimates
create or replace view sample_columns as select * from samples;
