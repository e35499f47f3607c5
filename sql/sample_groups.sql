-- sample_groups: the group of every sample per column: its value for categorical columns, its tertile
-- (0_low, 1_middle, 2_high; cuts over all samples of the workspace) for numeric ones. Missing values have no row.
-- requires: sample_attributes, attribute_kinds
create or replace view sample_groups as
select a.sample, a.database, a.speaker, a.attribute, k.kind, a.value, a.value_num,
       case when k.kind = 'categorical' then a.value
            when a.value_num <= k.q_low then '0_low'
            when a.value_num <= k.q_high then '1_middle'
            else '2_high' end as "group"
from sample_attributes a join attribute_kinds k using (attribute)
where a.value is not null;
