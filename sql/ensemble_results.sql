-- ensemble_results: the results of every ensemble (nkl ensemble) with its method and members, from its latest run.
-- requires: results, runs
create or replace view ensemble_results as
with latest as (
    select experiment, arg_max(members, start) as members from runs
    where status = 'done' and members is not null group by experiment
)
select r.experiment, json_extract_string(l.members, '$.method') as method,
       cast(json_extract(l.members, '$.members') as varchar[]) as members,
       json_extract_string(l.members, '$.weights_from') as weights_from,
       r.* exclude (experiment)
from results r join latest l using (experiment);
