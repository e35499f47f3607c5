-- attribute_kinds: per column, how many samples have a value, how many distinct values, and whether nkl treats it as
-- numeric (every value a number and more than 5 distinct values; never speaker) or categorical; q_low/q_high are its tertile cuts.
-- requires: sample_attributes
create or replace view attribute_kinds as
select attribute,
       count(value) as n,
       count(*) - count(value) as n_missing,
       count(distinct value) as n_distinct,
       case when attribute <> 'speaker' and count(value) > 0 and count(value) = count(value_num) and count(distinct value) > 5
            then 'numeric' else 'categorical' end as kind,
       quantile_cont(value_num, 1 / 3) as q_low,
       quantile_cont(value_num, 2 / 3) as q_high,
       min(value_num) as min,
       max(value_num) as max
from sample_attributes
group by attribute;
