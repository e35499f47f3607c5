-- value_distribution: per database, column and group (label, category or tertile): samples, speakers and durations.
-- Label distribution: where attribute = 'emotion'; samples and speakers per class; duration per class.
-- requires: sample_groups, samples
create or replace view value_distribution as
select g.database, g.attribute, g."group",
       count(*) as n_samples,
       count(distinct g.speaker) as n_speakers,
       avg(s.duration) as duration_mean,
       sum(s.duration) as duration_total
from sample_groups g join samples s using (sample)
group by all;
