-- evaluated_predictions: the predictions that a classification experiment's results are computed from: the best run
-- (the latest finished run's best_run) on the evaluation split (test, or the pooled logo folds).
-- requires: predictions, runs, results
create or replace view evaluated_predictions as
with best as (
    select experiment, arg_max(best_run, start) as run from runs where status = 'done' group by experiment
), classification as (
    select distinct experiment from results where metric = 'uar'
)
select p.* from predictions p
join best b on p.experiment = b.experiment and p.run = b.run
join classification c on c.experiment = p.experiment
where p.split = (case when exists (select 1 from predictions q where q.experiment = p.experiment and q.split = 'logo')
                      then 'logo' else 'test' end);
