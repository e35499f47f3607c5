-- confusion_counts: how often each true class was predicted as each class (evaluated predictions).
-- requires: evaluated_predictions
create or replace view confusion_counts as
select experiment, run, split, truth, predicted, count(*) as n
from evaluated_predictions
group by all;
