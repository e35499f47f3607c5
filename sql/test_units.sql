-- test_units(experiment, attribute, target_kind, attribute_kind, level): the rows a statistical test of `nkl explore`
-- is computed on, for the explored samples of an experiment (table explore_samples, which holds the target).
-- kinds: 'categorical', 'numeric', or 'binned' (a numeric column used as its tertile groups).
-- level 'samples': one row per sample. level 'speakers': a speaker is one unit: one row per speaker and
-- categorical value(s), numeric values averaged (e.g. a speaker's mean duration per class).
-- y = target, x = attribute; *_group for categorical use, *_num for numeric use.
-- requires: explore_samples, sample_groups
create or replace macro test_units(exp, attr, target_kind, attribute_kind, lvl) as table
with pairs as (
    select e.sample, e.speaker,
           case when target_kind = 'numeric' then null else e.target end as y_group,
           e.target_num as y_num,
           case when attribute_kind = 'numeric' then null
                when attribute_kind = 'binned' then g."group" else g.value end as x_group,
           g.value_num as x_num
    from explore_samples e join sample_groups g on g.sample = e.sample and g.attribute = attr
    where e.experiment = exp
      and (target_kind <> 'numeric' or e.target_num is not null)
      and (attribute_kind <> 'numeric' or g.value_num is not null)
)
select 'samples' as level, sample as unit, y_group, y_num, x_group, x_num, 1 as n_samples
from pairs where lvl = 'samples'
union all
select 'speakers' as level, speaker as unit, y_group, avg(y_num) as y_num, x_group, avg(x_num) as x_num, count(*) as n_samples
from pairs where lvl = 'speakers' and speaker is not null
group by speaker, y_group, x_group;
