-- split_distribution: per experiment, split, database, column and group: samples and speakers (label balance per split).
-- requires: sample_groups, splits
create or replace view split_distribution as
select sp.experiment, sp.split, g.database, g.attribute, g."group",
       count(*) as n_samples,
       count(distinct g.speaker) as n_speakers
from splits sp join sample_groups g using (sample)
group by all;
