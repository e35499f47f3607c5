-- group_metrics: UAR (mean of the per-class recalls present in the group), accuracy, samples and speakers per group of
-- every column (categorical values, or tertiles of numeric columns such as est_snr), for classification experiments.
-- requires: evaluated_predictions, sample_groups, group_class_recall
create or replace view group_metrics as
with per_group as (
    select p.experiment, p.run, p.split, g.attribute, g."group",
           count(*) as n, count(distinct g.speaker) as n_speakers, avg((p.predicted = p.truth)::int) as accuracy
    from evaluated_predictions p join sample_groups g using (sample)
    group by all
), uar as (
    select experiment, run, split, attribute, "group", avg(recall) as uar, count(*) as n_classes
    from group_class_recall group by all
)
select experiment, run, split, attribute, "group", n, n_speakers, n_classes, uar, accuracy
from per_group join uar using (experiment, run, split, attribute, "group");
