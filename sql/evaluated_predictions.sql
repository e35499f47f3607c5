-- evaluated_predictions: the predictions that a classification experiment's results are computed from: the best run
-- (the latest finished run's best_run) on its evaluation split (test, or the pooled logo folds), both read from runs;
-- runs recorded before runs stored them fall back to the results (uar = classification) and the predictions (logo).
-- requires: predictions, runs, results
create or replace view evaluated_predictions as
with latest as (
    select experiment, arg_max(best_run, start) as run, arg_max(task, start) as task, arg_max(eval_split, start) as eval_split
    from runs where status = 'done' group by experiment
), known as (
    select experiment, run,
           coalesce(task, case when exists (select 1 from results r where r.experiment = l.experiment and r.metric = 'uar')
                               then 'classification' else 'regression' end) as task,
           coalesce(eval_split, case when exists (select 1 from predictions q where q.experiment = l.experiment and q.split = 'logo')
                                     then 'logo' else 'test' end) as eval_split
    from latest l
)
select p.* from predictions p
join known b on p.experiment = b.experiment and p.run = b.run
where b.task = 'classification' and p.split = b.eval_split;
