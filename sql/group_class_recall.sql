-- group_class_recall: recall of every class inside every group of every column (e.g. recall of 'anger' among
-- female speakers), for the evaluated predictions of classification experiments.
-- requires: evaluated_predictions, sample_groups
create or replace view group_class_recall as
select p.experiment, p.run, p.split, g.attribute, g."group", p.truth as class,
       count(*) as n,
       avg((p.predicted = p.truth)::int) as recall
from evaluated_predictions p join sample_groups g using (sample)
group by all;
