-- evaluated_predictions: the predictions that a classification experiment's results are computed from: the best run
-- (the latest finished run's best_run) on its evaluation split (test, or the pooled logo folds), both read from runs.
-- requires: predictions, runs
create or replace view evaluated_predictions as
with latest as (
    select experiment, arg_max(best_run, start) as run, arg_max(task, start) as task, arg_max(eval_split, start) as eval_split
    from runs where status = 'done' group by experiment
)
select p.* from predictions p
join latest b on p.experiment = b.experiment and p.run = b.run
where b.task = 'classification' and p.split = b.eval_split;
